//! Reading hypothesis and reference files, one segment per line.

use std::path::Path;

use crate::error::MetricError;

/// Reads a UTF-8 text file into lines. Only the line terminator ("\n" or
/// "\r\n") is removed; other whitespace and empty lines are kept, since an
/// empty hypothesis is still a segment. A final terminator does not start an
/// extra line. Invalid UTF-8 is reported with the file and 1-based line.
pub fn read_lines(path: &Path) -> Result<Vec<String>, MetricError> {
    let bytes = std::fs::read(path).map_err(|source| MetricError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    // Like Python's line iteration: "a\nb\n" and "a\nb" are both two lines.
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            String::from_utf8(line.to_vec()).map_err(|_| MetricError::InvalidUtf8 {
                path: path.to_path_buf(),
                line: i + 1,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(name: &str, bytes: &[u8]) -> Result<Vec<String>, MetricError> {
        let dir = std::env::temp_dir().join(format!("nmt-metrics-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let result = read_lines(&path);
        std::fs::remove_file(&path).unwrap();
        result
    }

    #[test]
    fn strips_terminators_and_keeps_empty_lines() {
        assert_eq!(lines_of("a", b"a\r\n\nb \n").unwrap(), ["a", "", "b "]);
        assert_eq!(lines_of("b", b"a\nb").unwrap(), ["a", "b"]);
        assert_eq!(lines_of("c", b"\n").unwrap(), [""]);
        assert!(lines_of("d", b"").unwrap().is_empty());
        assert_eq!(lines_of("e", b"x\ry\n").unwrap(), ["x\ry"]);
    }

    #[test]
    fn invalid_utf8_names_file_and_line() {
        let err = lines_of("bad.txt", b"ok\nfine\n\xff\xfe\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bad.txt") && msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = read_lines(Path::new("/nonexistent/hyp.txt")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/hyp.txt"), "{err}");
    }
}
