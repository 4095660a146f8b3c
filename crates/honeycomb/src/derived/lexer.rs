//! Tokens of Honeycomb's calculated-field language.

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    /// A function name (`IF`, `concat`); upper-cased.
    Function(String),
    /// `$name`, `$"quoted name"` or `` $`raw name` ``.
    Column(String),
    /// `"text"` or `` `raw text` ``.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// Any other number.
    Float(f64),
    /// `true` or `false`.
    Boolean(bool),
    /// `null`.
    Null,
    /// `(`
    Open,
    /// `)`
    Close,
    /// `,`
    Comma,
    /// An operator: `! * / % - + < <= > >= = != AND OR`.
    Operator(&'static str),
}

fn column_rune(c: char) -> bool {
    c.is_alphanumeric() || "_./:=+?-".contains(c)
}

/// Reads a quoted string starting after its opening quote; Go's escapes.
fn quoted(chars: &[char], mut at: usize) -> Result<(String, usize), String> {
    let mut text = String::new();
    while at < chars.len() {
        match chars[at] {
            '"' => return Ok((text, at + 1)),
            '\\' => {
                let next = *chars.get(at + 1).ok_or("unterminated string")?;
                at += 2;
                let simple = match next {
                    'a' => Some('\u{7}'),
                    'b' => Some('\u{8}'),
                    'f' => Some('\u{c}'),
                    'n' => Some('\n'),
                    'r' => Some('\r'),
                    't' => Some('\t'),
                    'v' => Some('\u{b}'),
                    '\\' => Some('\\'),
                    '\'' => Some('\''),
                    '"' => Some('"'),
                    _ => None,
                };
                if let Some(c) = simple {
                    text.push(c);
                    continue;
                }
                let (digits, radix) = match next {
                    'x' => (2, 16),
                    'u' => (4, 16),
                    'U' => (8, 16),
                    '0'..='7' => {
                        at -= 1;
                        (3, 8)
                    }
                    other => return Err(format!("unknown escape \\{other}")),
                };
                let code: String = chars
                    .get(at..at + digits)
                    .ok_or("short escape")?
                    .iter()
                    .collect();
                let value =
                    u32::from_str_radix(&code, radix).map_err(|_| format!("bad escape {code}"))?;
                text.push(char::from_u32(value).ok_or_else(|| format!("bad escape {code}"))?);
                at += digits;
            }
            c => {
                text.push(c);
                at += 1;
            }
        }
    }
    Err("unterminated string".into())
}

fn raw(chars: &[char], at: usize) -> Result<(String, usize), String> {
    let end = chars[at..]
        .iter()
        .position(|c| *c == '`')
        .ok_or("unterminated raw string")?;
    Ok((chars[at..at + end].iter().collect(), at + end + 1))
}

fn number(chars: &[char], start: usize) -> Result<(Token, usize), String> {
    let mut at = start;
    if chars[at] == '-' {
        at += 1;
    }
    while at < chars.len() && (chars[at].is_ascii_digit() || chars[at] == '.') {
        at += 1;
    }
    if at < chars.len() && (chars[at] == 'e' || chars[at] == 'E') {
        at += 1;
        if at < chars.len() && (chars[at] == '+' || chars[at] == '-') {
            at += 1;
        }
        while at < chars.len() && chars[at].is_ascii_digit() {
            at += 1;
        }
    }
    let text: String = chars[start..at].iter().collect();
    if let Ok(whole) = text.parse::<i64>() {
        return Ok((Token::Integer(whole), at));
    }
    text.parse::<f64>()
        .map(|f| (Token::Float(f), at))
        .map_err(|_| format!("bad number {text}"))
}

/// Whether a `-` here starts a number: only directly before a digit, where an operand may begin.
fn negative_number(chars: &[char], at: usize, previous: Option<&Token>) -> bool {
    let operand_expected = matches!(
        previous,
        None | Some(Token::Open | Token::Comma | Token::Operator(_))
    );
    operand_expected
        && chars
            .get(at + 1)
            .is_some_and(|c| c.is_ascii_digit() || *c == '.')
}

/// The tokens of `source`.
pub(crate) fn tokens(source: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = source.chars().collect();
    let mut out: Vec<Token> = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        if c.is_whitespace() {
            at += 1;
            continue;
        }
        let (token, next) = match c {
            '(' => (Token::Open, at + 1),
            ')' => (Token::Close, at + 1),
            ',' => (Token::Comma, at + 1),
            '"' => {
                let (text, next) = quoted(&chars, at + 1)?;
                (Token::Text(text), next)
            }
            '`' => {
                let (text, next) = raw(&chars, at + 1)?;
                (Token::Text(text), next)
            }
            '$' => match chars.get(at + 1) {
                Some('"') => {
                    let (name, next) = quoted(&chars, at + 2)?;
                    (Token::Column(name), next)
                }
                Some('`') => {
                    let (name, next) = raw(&chars, at + 2)?;
                    (Token::Column(name), next)
                }
                _ => {
                    let end = chars[at + 1..]
                        .iter()
                        .position(|c| !column_rune(*c))
                        .map_or(chars.len(), |p| at + 1 + p);
                    if end == at + 1 {
                        return Err("a `$` must be followed by a column name".into());
                    }
                    (Token::Column(chars[at + 1..end].iter().collect()), end)
                }
            },
            '-' if negative_number(&chars, at, out.last()) => number(&chars, at)?,
            '0'..='9' | '.' => number(&chars, at)?,
            '<' | '>' | '!' | '=' => {
                let two = chars.get(at + 1) == Some(&'=');
                let op = match (c, two) {
                    ('<', true) => "<=",
                    ('<', false) => "<",
                    ('>', true) => ">=",
                    ('>', false) => ">",
                    ('!', true) => "!=",
                    ('!', false) => "!",
                    _ => "=",
                };
                (Token::Operator(op), at + if two { 2 } else { 1 })
            }
            '*' => (Token::Operator("*"), at + 1),
            '/' => (Token::Operator("/"), at + 1),
            '%' => (Token::Operator("%"), at + 1),
            '-' => (Token::Operator("-"), at + 1),
            '+' => (Token::Operator("+"), at + 1),
            c if c.is_ascii_alphabetic() => {
                let end = chars[at..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
                    .map_or(chars.len(), |p| at + p);
                let word: String = chars[at..end].iter().collect();
                let token = match word.as_str() {
                    "true" => Token::Boolean(true),
                    "false" => Token::Boolean(false),
                    "null" => Token::Null,
                    "AND" | "and" if chars.get(end) != Some(&'(') => Token::Operator("AND"),
                    "OR" | "or" if chars.get(end) != Some(&'(') => Token::Operator("OR"),
                    _ => Token::Function(word.to_ascii_uppercase()),
                };
                (token, end)
            }
            other => return Err(format!("unexpected character {other:?}")),
        };
        out.push(token);
        at = next;
    }
    Ok(out)
}
