//! The library's own log lines: a capitalised sentence with a full stop,
//! then structured fields (`container_id=…`). They go to stderr unless the
//! host registers a sink of its own.

use std::fmt::{Display, Write as _};
use std::sync::{Arc, RwLock};

use crate::named::named_enum;


/// Where log lines go: a function of (level, formatted line).
pub type Sink = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// A logger with a level and a replaceable sink.
pub struct Logger {
    level: LogLevel,
    sink: RwLock<Option<Sink>>,
}

named_enum! {
    /// The library's own log verbosity; the name is the word a
    /// configuration uses. The numbers are the C ABI's `CAPTURE_LOG_*` and
    /// Fluent Bit's levels alike.
    pub enum LogLevel {
        Off = "off",
        Error = "error",
        Warn = "warn",
        Info = "info",
        Debug = "debug",
    }
}

impl LogLevel {
    /// The word a stderr line starts with.
    pub fn label(self) -> &'static str {
        match self {
            LogLevel::Off => "OFF",
            LogLevel::Error => "ERROR",
            LogLevel::Warn => "WARN",
            LogLevel::Info => "INFO",
            LogLevel::Debug => "DEBUG",
        }
    }
}

impl std::str::FromStr for LogLevel {
    type Err = String;

    fn from_str(text: &str) -> Result<LogLevel, String> {
        if text == "warning" {
            return Ok(LogLevel::Warn);
        }
        LogLevel::ALL
            .iter()
            .copied()
            .find(|level| level.name() == text)
            .ok_or_else(|| format!("unknown level {text:?} (expected off, error, warn, info or debug)"))
    }
}

impl Logger {
    pub fn new(level: LogLevel) -> Logger {
        Logger::with_sink(level, None)
    }

    pub fn with_sink(level: LogLevel, sink: Option<Sink>) -> Logger {
        Logger { level, sink: RwLock::new(sink) }
    }

    /// Replaces the sink (None: back to stderr).
    pub fn set_sink(&self, sink: Option<Sink>) {
        *self.sink.write().unwrap_or_else(|e| e.into_inner()) = sink;
    }

    pub fn enabled(&self, level: LogLevel) -> bool {
        level != LogLevel::Off && level <= self.level
    }

    /// Logs `message` with `fields` appended as `key=value` (values quoted
    /// when they hold spaces).
    pub fn log(&self, level: LogLevel, message: &str, fields: &[(&str, &dyn Display)]) {
        if !self.enabled(level) {
            return;
        }
        let mut line = String::with_capacity(message.len() + 32 * fields.len());
        line.push_str(message);
        for (key, value) in fields {
            let value = value.to_string();
            if value.is_empty() || value.contains(|c: char| c.is_whitespace() || c == '"') {
                let _ = write!(line, " {key}={value:?}");
            } else {
                let _ = write!(line, " {key}={value}");
            }
        }
        let sink = self.sink.read().unwrap_or_else(|e| e.into_inner()).clone();
        match sink {
            Some(sink) => sink(level, &line),
            None => eprintln!("log-capturer {} {line}", level.label()),
        }
    }

    pub fn error(&self, message: &str, fields: &[(&str, &dyn Display)]) {
        self.log(LogLevel::Error, message, fields)
    }
    pub fn warn(&self, message: &str, fields: &[(&str, &dyn Display)]) {
        self.log(LogLevel::Warn, message, fields)
    }
    pub fn info(&self, message: &str, fields: &[(&str, &dyn Display)]) {
        self.log(LogLevel::Info, message, fields)
    }
    pub fn debug(&self, message: &str, fields: &[(&str, &dyn Display)]) {
        self.log(LogLevel::Debug, message, fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn fields_are_appended_and_quoted() {
        let logger = Logger::new(LogLevel::Info);
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink_lines = lines.clone();
        logger.set_sink(Some(Arc::new(move |level, line: &str| {
            sink_lines.lock().unwrap().push((level, line.to_string()))
        })));
        logger.info("Stream reopened.", &[("container_id", &"abc"), ("reason", &"read timeout")]);
        logger.debug("Not shown.", &[]);
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].1, r#"Stream reopened. container_id=abc reason="read timeout""#);
    }
}
