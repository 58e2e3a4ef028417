//! The input values of `env create`, `exec start` and `rollout start` as the JSON object the
//! API takes.

use anyhow::{Context, Result};

use super::files::read_text;
use crate::cli::InputArgs;

/// The inputs as the JSON object the API takes: `--inputs-file`'s object with each
/// `--input` set over it; `None` when no input was given.
pub fn inputs_json(args: &InputArgs) -> Result<Option<String>> {
    if args.is_empty() {
        return Ok(None);
    }
    let mut object = serde_json::Map::new();
    if let Some(path) = &args.inputs_file {
        let file = read_text(path, "--inputs-file")?;
        let value: serde_json::Value = serde_json::from_str(&file.text)
            .with_context(|| format!("{} (--inputs-file) is not valid JSON", file.name))?;
        let serde_json::Value::Object(from_file) = value else {
            anyhow::bail!(
                "{} (--inputs-file) must hold a JSON object of input values, e.g. \
                 {{\"replicas\": 3}}",
                file.name
            );
        };
        object = from_file;
    }
    for (k, v) in &args.inputs {
        object.insert(k.clone(), v.clone());
    }
    Ok(Some(serde_json::Value::Object(object).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_merge_over_the_file() {
        let dir = std::env::temp_dir().join(format!("moorctl-inputs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("inputs.json");
        std::fs::write(&path, r#"{"replicas": 2, "domain": "a.example"}"#).unwrap();
        let args = InputArgs {
            inputs: vec![
                ("replicas".into(), serde_json::json!(5)),
                ("image".into(), serde_json::json!("shop:1.4")),
            ],
            inputs_file: Some(path.clone()),
        };
        let json: serde_json::Value =
            serde_json::from_str(&inputs_json(&args).unwrap().unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"replicas": 5, "domain": "a.example", "image": "shop:1.4"})
        );
        std::fs::write(&path, "[1, 2]").unwrap();
        let err = format!("{:#}", inputs_json(&args).unwrap_err());
        assert!(err.contains("must hold a JSON object"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();

        let none = InputArgs {
            inputs: vec![],
            inputs_file: None,
        };
        assert_eq!(inputs_json(&none).unwrap(), None);
    }
}
