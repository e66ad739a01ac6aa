//! `skiff validate`: parse and validate manifests, one line per object or error.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use skiff_core::manifest::{self, ManifestError};
use skiff_core::validate::validate_object;

/// Manifest file extensions read from a directory, as kubectl does.
const MANIFEST_EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// Expands the `-f` arguments into files (shared by every verb that takes -f): a file as is, a directory into its manifest files
/// (sorted, so output is stable), `-` into standard input.
pub fn expand(paths: &[PathBuf], recursive: bool) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            files.push(path.clone());
        } else if path.is_dir() {
            collect_dir(path, recursive, &mut files)?;
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(format!("the path \"{}\" does not exist", path.display()));
        }
    }
    Ok(files)
}

fn collect_dir(dir: &Path, recursive: bool, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            if recursive {
                collect_dir(&entry, recursive, files)?;
            }
        } else if entry
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| MANIFEST_EXTENSIONS.contains(&e))
        {
            files.push(entry);
        }
    }
    Ok(())
}

/// Validates every document of every file, writing one line per object (`replicaset/frontend
/// (apps/v1) ok`) or per error. Returns true when everything is valid.
pub fn run(paths: &[PathBuf], recursive: bool, stdin: &mut dyn Read, out: &mut dyn Write) -> bool {
    let files = match expand(paths, recursive) {
        Ok(files) => files,
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
            return false;
        }
    };
    let mut ok = true;
    for path in files {
        let (name, bytes) = if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            if let Err(e) = stdin.read_to_end(&mut bytes) {
                let _ = writeln!(out, "error: reading standard input: {e}");
                ok = false;
                continue;
            }
            ("-".to_owned(), bytes)
        } else {
            match fs::read(&path) {
                Ok(bytes) => (path.display().to_string(), bytes),
                Err(e) => {
                    let _ = writeln!(out, "error: {}: {e}", path.display());
                    ok = false;
                    continue;
                }
            }
        };
        ok &= validate_stream(&name, &bytes, out);
    }
    ok
}

/// Validates one stream; returns true when every document is a valid object.
fn validate_stream(name: &str, bytes: &[u8], out: &mut dyn Write) -> bool {
    let parsed = manifest::parse_bytes(name, bytes);
    // Report in stream order: merge parsed documents and errors by document index.
    let mut lines: Vec<(usize, String)> = Vec::new();
    for doc in &parsed.documents {
        let info = doc.object.info();
        let errors = validate_object(&doc.object);
        if errors.is_empty() {
            lines.push((
                doc.document,
                format!("{} ({}) ok", doc.object.kind_slash_name(), info.api_version),
            ));
        } else {
            for e in errors {
                lines.push((
                    doc.document,
                    format!(
                        "error: {name}: document {}, line {}: {}: {e}",
                        doc.document,
                        doc.line,
                        doc.object.kind_slash_name()
                    ),
                ));
            }
        }
    }
    let ok = parsed.errors.is_empty() && lines.iter().all(|(_, l)| !l.starts_with("error: "));
    lines.extend(
        parsed
            .errors
            .iter()
            .map(|e: &ManifestError| (e.location.document, format!("error: {e}"))),
    );
    lines.sort_by_key(|(doc, _)| *doc);
    for (_, line) in lines {
        let _ = writeln!(out, "{line}");
    }
    ok
}
