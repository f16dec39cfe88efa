//! Bearer tokens: 32 random bytes, shown once, kept only as their SHA-256.
//!
//! A token is a random 256-bit secret, not a password a person chose, so a fast hash is the
//! right one: nobody can guess a preimage whatever the hash costs, while a slow password hash
//! (argon2, scrypt) would spend milliseconds of CPU on every request for no gain. The hash keeps
//! a stolen auth file from being used as a list of tokens.

use sha2::{Digest, Sha256};

/// What every token starts with, so that secret scanners and people recognise one.
pub const TOKEN_PREFIX: &str = "rlt_";

/// A bearer token in clear: printed once when made, then only ever hashed.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A new token from the operating system's random source.
    pub fn generate() -> Result<Token, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        Ok(Token(format!("{TOKEN_PREFIX}{}", hex::encode(secret))))
    }

    /// The token's text, as a client sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash the auth file keeps.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

/// Never prints the secret: a token that reaches a log line by mistake shows only that it was
/// there.
impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

/// The SHA-256 of a token's text.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The hash of the token text `token`, whatever its form: an unknown token simply matches
    /// no principal.
    pub fn of(token: &str) -> TokenHash {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// The hash written as 64 lowercase hex digits, as the auth file holds it.
    pub fn parse_hex(text: &str) -> Option<TokenHash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(TokenHash(bytes))
    }

    /// The hash's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenHash({})", &self.to_hex()[..12])
    }
}
