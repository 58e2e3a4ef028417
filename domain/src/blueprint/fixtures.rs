//! Blueprints and helpers the blueprint tests share (test builds only).

use super::parse::parse;

/// The brief's example; line numbers matter to the tests below.
pub(crate) const WEBSHOP: &str = r#"name: webshop
description: Web shop with database
inputs:
  replicas: { type: number, default: 2 }
  image:    { type: string }
  db_password: { type: string, secret: true, default: "${var:webshop/db_password}" }
resources:
  - name: db
    type: sim.resource
    properties: { engine: postgres, password: "${inputs.db_password}" }
  - name: app
    type: kubernetes.manifest
    depends_on: [db]
    properties: { image: "${inputs.image}", replicas: "${inputs.replicas}" }
outputs:
  url: "https://${inputs.image}.example"
"#;

/// Every diagnostic, as printed.
pub(crate) fn problems(text: &str) -> Vec<String> {
    parse("bp.yaml", text)
        .expect_err("the blueprint should be refused")
        .iter()
        .map(ToString::to_string)
        .collect()
}
