//! Which operation a request asks for, from its method, path and query
//! alone (`docs/li-api.yaml`). Pure: no state, no I/O.

use cablekey_protocol::li::Mode;

use super::task::{check_case_id, check_target, Refusal, Window};

/// An API operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `GET /v1/tasks`
    List,
    /// `POST /v1/tasks` with a `TaskSpec` body.
    Provision,
    /// `DELETE /v1/tasks/{case}`
    Revoke { case: String },
    /// `GET /v1/tasks/{case}/{mode}?target=…[&from=…&to=…]`
    Keys {
        case: String,
        mode: Mode,
        target: String,
        /// Historical only.
        window: Option<Window>,
    },
}

impl Op {
    /// The name the audit log gives it.
    pub fn name(&self) -> &'static str {
        match self {
            Op::List => "list",
            Op::Provision => "provision",
            Op::Revoke { .. } => "revoke",
            Op::Keys { mode, .. } => mode.name(),
        }
    }
}

/// Most query parameters read; more is a bad request.
const MAX_PARAMS: usize = 8;

pub fn parse(method: &str, path: &str, query: Option<&str>) -> Result<Op, Refusal> {
    let rest = path.strip_prefix("/v1/tasks").ok_or(Refusal::NotFound)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return Err(Refusal::NotFound);
    }
    let parts: Vec<&str> = rest.split('/').skip(1).collect();
    let bad = |m: &str| Refusal::BadRequest(m.to_string());
    match (method, parts.as_slice()) {
        ("GET", []) => Ok(Op::List),
        ("POST", []) => Ok(Op::Provision),
        ("DELETE", [case]) => {
            check_case_id(case)?;
            Ok(Op::Revoke {
                case: case.to_string(),
            })
        }
        ("GET", [case, mode]) => {
            check_case_id(case)?;
            let mode = match *mode {
                "future" => Mode::Future,
                "current" => Mode::Current,
                "historical" => Mode::Historical,
                _ => return Err(Refusal::NotFound),
            };
            let params = params(query.unwrap_or(""))?;
            let get = |name: &str| {
                params
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            let target = get("target").ok_or_else(|| bad("target is required"))?;
            check_target(target)?;
            let ms = |name: &str| -> Result<u64, Refusal> {
                get(name)
                    .ok_or_else(|| bad(&format!("{name} is required (Unix milliseconds)")))?
                    .parse()
                    .map_err(|_| bad(&format!("{name}: expected Unix milliseconds")))
            };
            let window = match mode {
                Mode::Historical => Some(Window {
                    from_ms: ms("from")?,
                    to_ms: ms("to")?,
                }),
                _ => None,
            };
            Ok(Op::Keys {
                case: case.to_string(),
                mode,
                target: target.to_string(),
                window,
            })
        }
        (_, [] | [_] | [_, _]) => Err(bad(&format!("method {method} not allowed here"))),
        _ => Err(Refusal::NotFound),
    }
}

/// `a=1&b=%2B2` → pairs, percent-decoded (`+` stays `+`: numbers carry it).
fn params(query: &str) -> Result<Vec<(String, String)>, Refusal> {
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if out.len() == MAX_PARAMS {
            return Err(Refusal::BadRequest("too many query parameters".into()));
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((decode(k)?, decode(v)?));
    }
    Ok(out)
}

fn decode(s: &str) -> Result<String, Refusal> {
    let bad = || Refusal::BadRequest("bad percent-encoding in the query".into());
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3).ok_or_else(bad)?;
            let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(parse("GET", "/v1/tasks", None), Ok(Op::List));
        assert_eq!(parse("POST", "/v1/tasks", None), Ok(Op::Provision));
        assert_eq!(
            parse("DELETE", "/v1/tasks/C-1", None),
            Ok(Op::Revoke { case: "C-1".into() })
        );
        assert_eq!(
            parse(
                "GET",
                "/v1/tasks/C-1/historical",
                Some("target=%2B4001&from=5&to=9")
            ),
            Ok(Op::Keys {
                case: "C-1".into(),
                mode: Mode::Historical,
                target: "+4001".into(),
                window: Some(Window {
                    from_ms: 5,
                    to_ms: 9
                }),
            })
        );
        assert_eq!(
            parse("GET", "/v1/tasks/C-1/future", Some("target=4001")).map(|o| o.name()),
            Ok("future")
        );
    }

    #[test]
    fn refusals() {
        let code = |m, p, q| parse(m, p, q).unwrap_err().code();
        assert_eq!(code("GET", "/", None), "not_found");
        assert_eq!(code("GET", "/v1/tasksX", None), "not_found");
        assert_eq!(
            code("GET", "/v1/tasks/C-1/everything", Some("target=1")),
            "not_found"
        );
        assert_eq!(code("GET", "/v1/tasks/C-1/current", None), "bad_request");
        assert_eq!(
            code("GET", "/v1/tasks/C-1/current", Some("target=x")),
            "bad_request"
        );
        assert_eq!(
            code("GET", "/v1/tasks/C-1/historical", Some("target=1&from=1")),
            "bad_request"
        );
        assert_eq!(code("GET", "/v1/tasks/..", None), "bad_request");
        assert_eq!(code("PUT", "/v1/tasks", None), "bad_request");
        assert_eq!(code("GET", "/v1/tasks/a/b/c", None), "not_found");
        assert_eq!(
            code("GET", "/v1/tasks/C/current", Some("target=%4")),
            "bad_request"
        );
        assert_eq!(
            code("GET", "/v1/tasks/C/current", Some("target=%ff")),
            "bad_request"
        );
        let many = "a=1&".repeat(9);
        assert_eq!(
            code("GET", "/v1/tasks/C/current", Some(&many)),
            "bad_request"
        );
    }
}
