//! The repository documents itself: every `docs/format.md §N` or `§N.M`
//! that a source, test or document cites must be a section of
//! `docs/format.md`, every document under `docs/` that is mentioned must
//! exist, and nothing may point at notes outside the repository (a user's
//! clone has none).

use std::fs;
use std::path::{Path, PathBuf};

/// The workspace root (xtask sits one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask has a parent directory").to_path_buf()
}

/// Every text file of the repository that can cite the docs: sources,
/// documents, manifests and the interop scripts. Build outputs, fuzz
/// corpora and version-control data are skipped.
fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            let skipped = name.starts_with('.')
                || name.starts_with("target")
                || name == "corpus"
                || name == "artifacts"
                || name == "inputs";
            if !skipped {
                text_files(&path, out);
            }
        } else if ["rs", "md", "toml", "py"].iter().any(|ext| name.ends_with(&format!(".{ext}"))) {
            out.push(path);
        }
    }
}

/// The section numbers of `docs/format.md`: `## 6. …` gives "6",
/// `### 6.10 …` gives "6.10".
fn format_sections(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("### ").or_else(|| line.strip_prefix("## ")))
        .filter_map(|heading| {
            let number: String = heading.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            let number = number.trim_end_matches('.');
            (!number.is_empty()).then(|| number.to_string())
        })
        .collect()
}

/// The section cited right after each `docs/format.md` in `text` (the `§`
/// may follow on the next comment line), with the line of the citation.
/// Mentions without a section number are not citations and are skipped.
fn cited_sections(text: &str) -> Vec<(usize, String)> {
    let needle = "docs/format.md";
    let mut cited = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find(needle) {
        let at = from + found;
        from = at + needle.len();
        let line = text[..at].matches('\n').count() + 1;
        // Skip "," and white space, and the comment markers of a wrapped line.
        let rest = text[from..].trim_start_matches([',', ' ', '\n', '\t']);
        let rest = rest.trim_start_matches('/').trim_start_matches('!').trim_start();
        let Some(after) = rest.strip_prefix('§') else { continue };
        let number: String = after.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        let number = number.trim_end_matches('.').to_string();
        if !number.is_empty() {
            cited.push((line, number));
        }
    }
    cited
}

#[test]
fn every_cited_section_of_the_format_document_exists() {
    let root = root();
    let format = fs::read_to_string(root.join("docs/format.md")).expect("docs/format.md exists");
    let sections = format_sections(&format);
    assert!(sections.len() > 40, "docs/format.md lost its numbered sections: {sections:?}");

    let mut files = Vec::new();
    text_files(&root, &mut files);
    let mut citations = 0;
    let mut missing = Vec::new();
    for file in &files {
        let Ok(text) = fs::read_to_string(file) else { continue };
        for (line, number) in cited_sections(&text) {
            citations += 1;
            if !sections.contains(&number) {
                missing.push(format!(
                    "{}:{line}: §{number}",
                    file.strip_prefix(&root).unwrap_or(file).display()
                ));
            }
        }
    }
    assert!(citations > 100, "only {citations} citations of docs/format.md found: is the scan broken?");
    assert!(missing.is_empty(), "sections cited but not in docs/format.md:\n{}", missing.join("\n"));
}

#[test]
fn every_mentioned_document_exists_and_nothing_points_outside() {
    let root = root();
    // Spelled in pieces so that this file does not mention them itself.
    let outside = [concat!("FORMAT", ".md"), concat!("DESIGN", ".md"), concat!("../", "shared")];
    let mut files = Vec::new();
    text_files(&root, &mut files);
    let mut problems = Vec::new();
    for file in &files {
        let Ok(text) = fs::read_to_string(file) else { continue };
        let shown = file.strip_prefix(&root).unwrap_or(file).display().to_string();
        for (index, line) in text.lines().enumerate() {
            for name in outside {
                if line.contains(name) {
                    problems.push(format!("{shown}:{}: refers to {name}, outside the repository", index + 1));
                }
            }
            let mut rest = line;
            while let Some(at) = rest.find("docs/") {
                let tail = &rest[at..];
                let end = tail.find(".md").map(|e| e + 3);
                if let Some(end) = end {
                    let name = &tail[..end];
                    let plain =
                        name[5..end - 3].chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                    if plain && !root.join(name).is_file() {
                        problems.push(format!("{shown}:{}: {name} does not exist", index + 1));
                    }
                }
                rest = &tail[5..];
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_scanner_reads_wrapped_and_listed_citations() {
    let text = "//! a (docs/format.md\n//! §11) and docs/format.md §6.7. and docs/format.md, the footer";
    let cited: Vec<String> = cited_sections(text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(cited, ["11", "6.7"]);
    let sections = format_sections("## 1. Integers\n### 1.2 Sub\n## Not numbered\n#### 9.9 too deep\n");
    assert_eq!(sections, ["1", "1.2"]);
}
