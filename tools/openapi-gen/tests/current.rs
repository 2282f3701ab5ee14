//! The committed OpenAPI documents are what the generator makes from the k8s-openapi types in Cargo.lock.

use std::path::Path;

#[test]
fn committed_documents_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(runlet_openapi_gen::OUT_DIR);
    for doc in runlet_openapi_gen::documents() {
        let path = dir.join(runlet_openapi_gen::file_name(doc.path));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == runlet_openapi_gen::render(&doc.value),
            "{} is stale: run `cargo run -p runlet-openapi-gen` and commit the result",
            path.display()
        );
    }
}

#[test]
fn kinds_carry_their_group_version_kind_and_docs() {
    let docs = runlet_openapi_gen::documents();
    let batch = &docs.iter().find(|d| d.path == "apis/batch/v1").expect("batch").value;
    let job = &batch["components"]["schemas"]["io.k8s.api.batch.v1.Job"];
    assert_eq!(job["x-kubernetes-group-version-kind"][0]["kind"], "Job");
    assert!(job.get("required").is_none(), "metadata is not required");
    let rules = &batch["components"]["schemas"]["io.k8s.api.batch.v1.PodFailurePolicy"]["properties"]["rules"];
    assert!(rules["description"].as_str().is_some_and(|d| d.contains("A list of pod failure policy rules")), "{rules}");
}
