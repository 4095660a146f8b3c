//! Tokens of the filter language, read one at a time so the parser can take the raw JSON of
//! `rootcause.json = #[...]` straight from the text.

use super::FilterError;

/// One token and where it starts (a byte offset into the expression).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub(super) kind: TokenKind,
    pub(super) at: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum TokenKind {
    /// A keyword, identifier or bare word: letters, digits, `_`, `.`, `-`, `:` inside.
    Word(String),
    /// A double-quoted string, unescaped.
    Text(String),
    Number(f64),
    Symbol(&'static str),
    End,
}

impl TokenKind {
    /// How the token reads in an error message.
    pub(super) fn describe(&self) -> String {
        match self {
            Self::Word(word) => format!("'{word}'"),
            Self::Text(text) => format!("the string \"{text}\""),
            Self::Number(number) => format!("the number {number}"),
            Self::Symbol(symbol) => format!("'{symbol}'"),
            Self::End => "the end of the expression".into(),
        }
    }
}

const SYMBOLS: [&str; 14] = [
    "!=", "<=", ">=", "=", "<", ">", "!", "(", ")", "{", "}", "[", "]", ",",
];

pub(super) struct Lexer<'a> {
    text: &'a str,
    at: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '@' | '/')
}

impl<'a> Lexer<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Self { text, at: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    /// Reads the next token.
    pub(super) fn next_token(&mut self) -> Result<Token, FilterError> {
        self.skip_space();
        let at = self.at;
        let rest = self.rest();
        let Some(first) = rest.chars().next() else {
            return Ok(Token {
                kind: TokenKind::End,
                at,
            });
        };
        if first == '"' {
            return self.string(at);
        }
        if first == ':' || first == '#' {
            self.at += 1;
            let symbol = if first == ':' { ":" } else { "#" };
            return Ok(Token {
                kind: TokenKind::Symbol(symbol),
                at,
            });
        }
        if let Some(symbol) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            self.at += symbol.len();
            return Ok(Token {
                kind: TokenKind::Symbol(symbol),
                at,
            });
        }
        let starts_number = first.is_ascii_digit()
            || (first == '-' && rest[1..].starts_with(|c: char| c.is_ascii_digit() || c == '.'));
        if starts_number {
            return self.number(at);
        }
        if is_word_char(first) {
            let length = rest.find(|c: char| !is_word_char(c)).unwrap_or(rest.len());
            self.at += length;
            return Ok(Token {
                kind: TokenKind::Word(rest[..length].to_owned()),
                at,
            });
        }
        Err(FilterError::new(
            at,
            format!("unexpected character '{first}'"),
        ))
    }

    fn number(&mut self, at: usize) -> Result<Token, FilterError> {
        let rest = self.rest();
        let length = rest
            .char_indices()
            .skip(1)
            .find(|&(i, c)| {
                let exponent_sign = matches!(c, '+' | '-') && rest[..i].ends_with(['e', 'E']);
                !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E') || exponent_sign)
            })
            .map_or(rest.len(), |(i, _)| i);
        let literal = &rest[..length];
        let number = literal
            .parse::<f64>()
            .map_err(|_| FilterError::new(at, format!("'{literal}' is not a number")))?;
        self.at += length;
        Ok(Token {
            kind: TokenKind::Number(number),
            at,
        })
    }

    fn string(&mut self, at: usize) -> Result<Token, FilterError> {
        let mut value = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((offset, c)) = chars.next() {
            match c {
                '"' => {
                    self.at += offset + 1;
                    return Ok(Token {
                        kind: TokenKind::Text(value),
                        at,
                    });
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) => value.push(escaped),
                    None => break,
                },
                other => value.push(other),
            }
        }
        Err(FilterError::new(
            at,
            "a string is not closed: add the missing '\"'".into(),
        ))
    }

    /// Takes a JSON array starting at the next non-space character, for `#[...]`.
    pub(super) fn json_array(&mut self) -> Result<Vec<serde_json::Value>, FilterError> {
        self.skip_space();
        let at = self.at;
        let mut stream =
            serde_json::Deserializer::from_str(self.rest()).into_iter::<serde_json::Value>();
        match stream.next() {
            Some(Ok(serde_json::Value::Array(items))) => {
                self.at += stream.byte_offset();
                Ok(items)
            }
            Some(Ok(_)) => Err(FilterError::new(
                at,
                "rootcause.json takes a JSON array: #[{...}]".into(),
            )),
            Some(Err(error)) => Err(FilterError::new(
                at,
                format!("the JSON after '#' is not valid: {error}"),
            )),
            None => Err(FilterError::new(
                at,
                "rootcause.json = # must be followed by a JSON array".into(),
            )),
        }
    }
}
