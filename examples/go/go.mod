module github.com/log-capturer/log-capturer/examples/go

go 1.19

require github.com/log-capturer/log-capturer/bindings/go v0.0.0

replace github.com/log-capturer/log-capturer/bindings/go => ../../bindings/go
