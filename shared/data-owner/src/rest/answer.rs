//! Reading the node's answers, without I/O: success bodies as JSON, errors
//! (`{"error", "message"}`) as [`CliError::Rejected`].

use serde_json::Value;

use crate::{CliError, Result};

/// The error of a failed answer: the node's `error` code and `message` (`"http"` and
/// "`what` failed" for a body that is not the node's error JSON).
pub fn rejection(status: u16, body: &[u8], what: &str) -> CliError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    CliError::Rejected {
        status,
        code: v["error"].as_str().unwrap_or("http").to_string(),
        message: v["message"]
            .as_str()
            .map_or_else(|| format!("{what} failed"), |m| format!("{what}: {m}")),
    }
}

/// A success body as JSON (`null` when empty).
///
/// # Errors
/// [`CliError::Rejected`] with code `invalid_response` when it is not JSON.
pub fn json(body: &[u8], what: &str) -> Result<Value> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body)
        .map_err(|e| invalid(format!("{what}: the node's answer is not JSON ({e})")))
}

/// The string `id` of a JSON answer.
///
/// # Errors
/// [`CliError::Rejected`] (`invalid_response`) when the answer lacks it.
pub fn id_of(v: &Value) -> Result<String> {
    v["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| invalid(format!("the node's answer has no id: {v}")))
}

/// An answer that does not say what the API promises (code `invalid_response`, status 200).
pub fn invalid(message: String) -> CliError {
    CliError::Rejected {
        status: 200,
        code: "invalid_response".into(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_node_code_and_message() {
        let e = rejection(
            409,
            br#"{"error":"conflict","message":"not ready"}"#,
            "PUT /x",
        );
        assert!(
            matches!(&e, CliError::Rejected { status: 409, code, message }
                if code == "conflict" && message == "PUT /x: not ready"),
            "{e:?}"
        );
        let e = rejection(502, b"<html>bad gateway</html>", "GET /y");
        assert!(
            matches!(&e, CliError::Rejected { code, .. } if code == "http"),
            "{e:?}"
        );
        assert!(json(b"not json", "GET /z").is_err());
        assert_eq!(json(b"", "x").unwrap(), Value::Null);
        assert!(id_of(&serde_json::json!({"name": "x"})).is_err());
    }
}
