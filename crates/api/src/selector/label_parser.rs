//! The label-selector text parser: a lexer and a recursive-descent parser that reproduce upstream
//! `labels.Parse` token for token, so that every error message (and which error wins) is the same.

use super::{Operator, Requirement, SelectorError};
use crate::field::{FieldError, quote};
use crate::names;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

/// Where the parser is: `in` and `notin` are operators after a key but plain words where a value (or a key) is
/// expected, so `in in (in)` is a valid selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn keyword(word: &str) -> Token {
    match word {
        "in" => Token::In,
        "notin" => Token::NotIn,
        _ => Token::Identifier,
    }
}

/// Splits the text into tokens, always ending with `EndOfString`.
fn lex(text: &str) -> Vec<(Token, &str)> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    loop {
        while pos < bytes.len() && is_whitespace(bytes[pos]) {
            pos += 1;
        }
        let Some(&b) = bytes.get(pos) else {
            tokens.push((Token::EndOfString, ""));
            return tokens;
        };
        let start = pos;
        if is_special(b) {
            // Longest match: `==` and `!=` are the only two-character operators.
            let pair = bytes.get(pos + 1).is_some_and(|&next| next == b'=') && matches!(b, b'=' | b'!');
            pos += if pair { 2 } else { 1 };
            let token = match &text[start..pos] {
                "==" => Token::DoubleEquals,
                "!=" => Token::NotEquals,
                "=" => Token::Equals,
                "!" => Token::DoesNotExist,
                "(" => Token::OpenPar,
                ")" => Token::ClosedPar,
                "," => Token::Comma,
                ">" => Token::GreaterThan,
                _ => Token::LessThan,
            };
            tokens.push((token, &text[start..pos]));
        } else {
            // Specials and whitespace are ASCII, so these cut points are always character boundaries.
            while pos < bytes.len() && !is_special(bytes[pos]) && !is_whitespace(bytes[pos]) {
                pos += 1;
            }
            let word = &text[start..pos];
            tokens.push((keyword(word), word));
        }
    }
}

struct Parser<'a> {
    tokens: Vec<(Token, &'a str)>,
    position: usize,
}

impl<'a> Parser<'a> {
    fn in_context(token: Token, context: Context) -> Token {
        match (context, token) {
            (Context::Values, Token::In | Token::NotIn) => Token::Identifier,
            _ => token,
        }
    }

    fn lookahead(&self, context: Context) -> (Token, &'a str) {
        // The last token is EndOfString; never read past it.
        let (token, literal) = self.tokens[self.position.min(self.tokens.len() - 1)];
        (Self::in_context(token, context), literal)
    }

    fn consume(&mut self, context: Context) -> (Token, &'a str) {
        let item = self.lookahead(context);
        self.position += 1;
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut requirements = Vec::new();
        loop {
            let (token, literal) = self.lookahead(Context::Values);
            match token {
                Token::Identifier | Token::DoesNotExist => {
                    let requirement =
                        self.parse_requirement().map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(requirement);
                    let (token, literal) = self.consume(Context::Values);
                    match token {
                        Token::EndOfString => return Ok(requirements),
                        Token::Comma => {
                            let (next, next_literal) = self.lookahead(Context::Values);
                            if next != Token::Identifier && next != Token::DoesNotExist {
                                return Err(format!("found '{next_literal}', expected: identifier after ','"));
                            }
                        }
                        _ => return Err(format!("found '{literal}', expected: ',' or 'end of string'")),
                    }
                }
                Token::EndOfString => return Ok(requirements),
                _ => return Err(format!("found '{literal}', expected: !, identifier, or 'end of string'")),
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, inferred) = self.parse_key_and_infer_operator()?;
        if let Some(operator) = inferred {
            return Requirement::new(key, operator, Vec::new()).map_err(|e| e.0);
        }
        let operator = self.parse_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => vec![self.parse_exact_value()?],
        };
        Requirement::new(key, operator, values).map_err(|e| e.0)
    }

    /// The key, and `Exists`/`DoesNotExist` when no binary operator follows it.
    fn parse_key_and_infer_operator(&mut self) -> Result<(&'a str, Option<Operator>), String> {
        let (mut token, mut literal) = self.consume(Context::Values);
        let negated = token == Token::DoesNotExist;
        if negated {
            (token, literal) = self.consume(Context::Values);
        }
        if token != Token::Identifier {
            return Err(format!("found '{literal}', expected: identifier"));
        }
        let errs = names::qualified_name(literal);
        if !errs.is_empty() {
            // Upstream validates with a nil field path, which prints as `<nil>`.
            return Err(FieldError::invalid("<nil>", quote(literal), errs.join("; ")).to_string());
        }
        if negated {
            // `!k` is DoesNotExist whatever follows; a stray operator then fails as "expected: ','".
            return Ok((literal, Some(Operator::DoesNotExist)));
        }
        let (next, _) = self.lookahead(Context::Values);
        let exists = matches!(next, Token::EndOfString | Token::Comma);
        Ok((literal, exists.then_some(Operator::Exists)))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (token, literal) = self.consume(Context::KeyAndOperator);
        Ok(match token {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => return Err(format!("found '{literal}', expected: in, notin, =, ==, !=, gt, lt")),
        })
    }

    /// `( v1, v2, ... )`; empty entries count as the empty value. Sorted and de-duplicated like upstream's
    /// string set.
    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (token, literal) = self.consume(Context::Values);
        if token != Token::OpenPar {
            // Sic: upstream has no comma after the found token here.
            return Err(format!("found '{literal}' expected: '('"));
        }
        let (token, literal) = self.lookahead(Context::Values);
        let mut values = match token {
            Token::Identifier | Token::Comma => {
                let values = self.parse_identifiers_list()?;
                if self.consume(Context::Values).0 != Token::ClosedPar {
                    // Sic: upstream reports the first value, not the token it found.
                    return Err(format!("found '{literal}', expected: ')'"));
                }
                values
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                vec![String::new()]
            }
            _ => return Err(format!("found '{literal}', expected: ',', ')' or identifier")),
        };
        values.sort();
        values.dedup();
        Ok(values)
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut values: Vec<String> = Vec::new();
        loop {
            let (token, literal) = self.consume(Context::Values);
            match token {
                Token::Identifier => {
                    values.push(literal.to_string());
                    let (next, next_literal) = self.lookahead(Context::Values);
                    match next {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(values),
                        _ => return Err(format!("found '{next_literal}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    // A comma with nothing before it, before `)`, or before another comma stands for "".
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    match self.lookahead(Context::Values).0 {
                        Token::ClosedPar => {
                            values.push(String::new());
                            return Ok(values);
                        }
                        Token::Comma => {
                            self.consume(Context::Values);
                            values.push(String::new());
                        }
                        _ => {}
                    }
                }
                _ => return Err(format!("found '{literal}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<String, String> {
        let (token, _) = self.lookahead(Context::Values);
        if matches!(token, Token::EndOfString | Token::Comma) {
            return Ok(String::new());
        }
        let (token, literal) = self.consume(Context::Values);
        if token == Token::Identifier {
            return Ok(literal.to_string());
        }
        Err(format!("found '{literal}', expected: identifier"))
    }
}

/// Parses selector text into requirements in text order.
pub(super) fn parse(text: &str) -> Result<Vec<Requirement>, SelectorError> {
    let mut parser = Parser { tokens: lex(text), position: 0 };
    parser.parse().map_err(SelectorError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexes_like_upstream() {
        let tokens: Vec<Token> = lex("a==b!=c=(d),!e>1<2 in notin").into_iter().map(|(t, _)| t).collect();
        use Token::*;
        assert_eq!(
            tokens,
            vec![
                Identifier,
                DoubleEquals,
                Identifier,
                NotEquals,
                Identifier,
                Equals,
                OpenPar,
                Identifier,
                ClosedPar,
                Comma,
                DoesNotExist,
                Identifier,
                GreaterThan,
                Identifier,
                LessThan,
                Identifier,
                In,
                NotIn,
                EndOfString
            ]
        );
        // `===` is `==` then `=`; `=!` is `=` then `!`.
        let tokens: Vec<Token> = lex("===!").into_iter().map(|(t, _)| t).collect();
        assert_eq!(tokens, vec![DoubleEquals, Equals, DoesNotExist, EndOfString]);
    }

    #[test]
    fn errors_like_upstream() {
        const NAME_PART: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
        const VALUE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
        let cases: Vec<(&str, String)> = vec![
            ("app:monolith", format!("unable to parse requirement: <nil>: Invalid value: \"app:monolith\": {NAME_PART}")),
            ("*bar", format!("unable to parse requirement: <nil>: Invalid value: \"*bar\": {NAME_PART}")),
            ("k=a_", format!("unable to parse requirement: values[0][k]: Invalid value: \"a_\": {VALUE}")),
            ("k in (a,-b)", format!("unable to parse requirement: values[0][k]: Invalid value: \"-b\": {VALUE}")),
            ("x=a b", "found 'b', expected: ',' or 'end of string'".into()),
            ("invalid=label=value", "found '=', expected: ',' or 'end of string'".into()),
            ("!k=v", "found '=', expected: ',' or 'end of string'".into()),
            ("a,", "found '', expected: identifier after ','".into()),
            ("a,,b", "found ',', expected: identifier after ','".into()),
            ("=a", "found '=', expected: !, identifier, or 'end of string'".into()),
            (",a", "found ',', expected: !, identifier, or 'end of string'".into()),
            ("!", "unable to parse requirement: found '', expected: identifier".into()),
            ("!!a", "unable to parse requirement: found '!', expected: identifier".into()),
            ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt".into()),
            ("a (", "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt".into()),
            ("a in", "unable to parse requirement: found '' expected: '('".into()),
            ("a in b", "unable to parse requirement: found 'b' expected: '('".into()),
            ("a in (", "unable to parse requirement: found '', expected: ',', ')' or identifier".into()),
            ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'".into()),
            ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'".into()),
            ("a in (,", "unable to parse requirement: found '', expected: ',', or identifier".into()),
            ("a in (b,=)", "unable to parse requirement: found '=', expected: ',', or identifier".into()),
            ("a=(", "unable to parse requirement: found '(', expected: identifier".into()),
            ("a>b", "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer".into()),
            ("a<", "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer".into()),
            (
                "a>-1",
                format!("unable to parse requirement: values[0][a]: Invalid value: \"-1\": {VALUE}"),
            ),
            // The first bad requirement wins, in text order (sorting happens after parsing).
            ("z=_,a=_", format!("unable to parse requirement: values[0][z]: Invalid value: \"_\": {VALUE}")),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).map_err(|e| e.0), Err(want), "{text:?}");
        }
    }

    #[test]
    fn value_lists() {
        let cases: &[(&str, &[&str])] = &[
            ("k in (b,a,b)", &["a", "b"]),
            ("k in ()", &[""]),
            ("k in (,)", &[""]),
            ("k in (a,)", &["", "a"]),
            ("k in (,a)", &["", "a"]),
            ("k in (a,,b)", &["", "a", "b"]),
            ("k notin (in,notin)", &["in", "notin"]),
        ];
        for &(text, want) in cases {
            let reqs = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(reqs[0].values, want, "{text:?}");
        }
    }
}
