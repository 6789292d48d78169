//! Every YAML/JSON file under `dashboards/` and `deploy/` parses; the Helm templates exist.

use serde_yaml::Value as Yaml;

use crate::common::{ext, is_helm_template, json, note, read, root, walk};

#[test]
fn all_yaml_and_json_files_parse() {
    let root = root();
    let mut files = Vec::new();
    walk(&root.join("dashboards"), &mut files);
    walk(&root.join("deploy"), &mut files);
    let (mut yamls, mut jsons, mut templates) = (0, 0, 0);
    for f in &files {
        match ext(f) {
            "yaml" | "yml" if is_helm_template(f) => templates += 1,
            "yaml" | "yml" => {
                // Multi-document files: parse each `---`-separated document.
                let text = read(f);
                let mut doc = String::new();
                for line in text.lines().chain(std::iter::once("---")) {
                    if line.trim_end() == "---" {
                        serde_yaml::from_str::<Yaml>(&doc)
                            .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", f.display()));
                        doc.clear();
                    } else {
                        doc.push_str(line);
                        doc.push('\n');
                    }
                }
                yamls += 1;
            }
            "json" => {
                json(f);
                jsons += 1;
            }
            _ => {}
        }
    }
    assert!(
        yamls >= 8 && jsons >= 1,
        "expected the deployment files, found {yamls} YAML and {jsons} JSON"
    );

    // Helm templates are Go templates: they must exist; the chart's own files parse (above).
    let chart = root.join("deploy/helm/ferry");
    for t in [
        "_helpers.tpl",
        "deployment.yaml",
        "service.yaml",
        "configmap.yaml",
        "servicemonitor.yaml",
        "prometheusrule.yaml",
    ] {
        assert!(
            chart.join("templates").join(t).is_file(),
            "missing Helm template templates/{t}"
        );
    }
    for f in ["Chart.yaml", "values.yaml", "files/ferry-rules.yaml"] {
        assert!(chart.join(f).is_file(), "missing chart file {f}");
    }
    note(format!("parsed {yamls} YAML and {jsons} JSON files; {templates} Helm templates present (not parsed: Go templates)"));
}
