//! The API's bearer token: read once at start from `[telemetry] token_file`, which must be
//! readable by its owner only; compared in constant time; never logged.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Shortest token accepted (a guessable token would make the check pointless).
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the API token file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the API token file {path} is readable by others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error("the API token in {path} is shorter than {MIN_TOKEN_LEN} characters")]
    TooShort { path: PathBuf },
    #[error("the API token in {path} has characters a header cannot carry (use letters, digits, -, _, ., ~, +, /)")]
    BadCharacters { path: PathBuf },
}

#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// Read the token in `path` (surrounding whitespace ignored).
    pub fn load(path: &Path) -> Result<Token, TokenError> {
        let read = |source| TokenError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mode = std::fs::metadata(path).map_err(read)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(TokenError::Exposed {
                path: path.to_path_buf(),
                mode,
            });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        let token = text.trim();
        if token.len() < MIN_TOKEN_LEN {
            return Err(TokenError::TooShort {
                path: path.to_path_buf(),
            });
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.~+/=".contains(c);
        if !token.chars().all(allowed) {
            return Err(TokenError::BadCharacters {
                path: path.to_path_buf(),
            });
        }
        Ok(Token(token.to_string()))
    }

    /// Whether `given` is the token; the time taken does not depend on where they differ.
    pub fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        let mut diff = (a.len() ^ b.len()) as u8 | ((a.len() ^ b.len()) >> 8) as u8;
        for (i, x) in a.iter().enumerate() {
            diff |= x ^ b.get(i).copied().unwrap_or(0);
        }
        diff == 0 && a.len() == b.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let p = dir.join("token");
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn a_token_file_is_checked_and_the_token_compared_exactly() {
        let dir = std::env::temp_dir().join(format!("ferry-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = write(&dir, "s3cret-token-0123456789\n", 0o600);
        let t = Token::load(&p).unwrap();
        assert!(t.matches("s3cret-token-0123456789"));
        assert!(!t.matches("s3cret-token-012345678"));
        assert!(!t.matches("s3cret-token-01234567890"));
        assert!(!t.matches(""));
        assert!(!format!("{t:?}").contains("s3cret"));

        let p = write(&dir, "s3cret-token-0123456789", 0o644);
        let e = Token::load(&p).unwrap_err();
        assert!(matches!(e, TokenError::Exposed { mode: 0o644, .. }), "{e}");
        assert!(!e.to_string().contains("s3cret"));
        let p = write(&dir, "short", 0o600);
        assert!(matches!(Token::load(&p), Err(TokenError::TooShort { .. })));
        let p = write(&dir, "a token with spaces inside", 0o600);
        assert!(matches!(
            Token::load(&p),
            Err(TokenError::BadCharacters { .. })
        ));
        assert!(matches!(
            Token::load(&dir.join("absent")),
            Err(TokenError::Read { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
