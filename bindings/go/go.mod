module github.com/log-capturer/log-capturer/bindings/go

go 1.19
