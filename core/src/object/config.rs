//! Namespace, ConfigMap, Secret, ServiceAccount, and [`Bytes`], the base64-in-YAML byte string
//! that Secret `data` and ConfigMap `binaryData` hold.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use super::event::is_default;
use super::serde_util::null_as_default;
use super::{
    ApiVersion, Kind, NamespaceCondition, ObjectMeta, ObjectReference, impl_resource, info,
};

/// A `Namespace`: a scope for names (upstream `core/v1.Namespace`).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Namespace {
    /// Always `v1`.
    #[serde(default)]
    pub api_version: ApiVersion<Namespace>,
    /// Always `Namespace`.
    #[serde(default)]
    pub kind: Kind<Namespace>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Desired state: the finalizers that must run before the namespace goes away.
    #[serde(default, skip_serializing_if = "is_default")]
    pub spec: NamespaceSpec,
    /// Observed state: `Active` or `Terminating`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub status: NamespaceStatus,
}
impl_resource!(Namespace, info::NAMESPACE);

/// The desired state of a [`Namespace`].
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceSpec {
    /// Opaque values (upstream: `kubernetes`) that must be cleared before the namespace is
    /// removed from storage; distinct from `metadata.finalizers`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub finalizers: Vec<String>,
}

/// The observed state of a [`Namespace`].
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceStatus {
    /// `Active` or `Terminating`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// Latest observations of the namespace's state (deletion progress and failures).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conditions: Vec<NamespaceCondition>,
}

/// A `ConfigMap`: non-secret configuration as key/value pairs (upstream `core/v1.ConfigMap`).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigMap {
    /// Always `v1`.
    #[serde(default)]
    pub api_version: ApiVersion<ConfigMap>,
    /// Always `ConfigMap`.
    #[serde(default)]
    pub kind: Kind<ConfigMap>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// UTF-8 values. A key may not also appear in `binaryData`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub data: BTreeMap<String, String>,
    /// Binary values, base64 in YAML and JSON, decoded here.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub binary_data: BTreeMap<String, Bytes>,
    /// When true, `data` and `binaryData` can no longer change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}
impl_resource!(ConfigMap, info::CONFIG_MAP);

/// A `Secret`: sensitive key/value data (upstream `core/v1.Secret`).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Secret {
    /// Always `v1`.
    #[serde(default)]
    pub api_version: ApiVersion<Secret>,
    /// Always `Secret`.
    #[serde(default)]
    pub kind: Kind<Secret>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The values, base64 in YAML and JSON, decoded here.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub data: BTreeMap<String, Bytes>,
    /// Write-only plain-text values; the API server merges them into `data` (overriding keys
    /// present in both) and never returns this field.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub string_data: BTreeMap<String, String>,
    /// How the data is to be read, e.g. `Opaque` (the default) or `kubernetes.io/tls`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// When true, `data` can no longer change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}
impl_resource!(Secret, info::SECRET);

/// A `ServiceAccount`: an identity for processes in pods (upstream `core/v1.ServiceAccount`).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    bincode::Encode,
    bincode::Decode,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccount {
    /// Always `v1`.
    #[serde(default)]
    pub api_version: ApiVersion<ServiceAccount>,
    /// Always `ServiceAccount`.
    #[serde(default)]
    pub kind: Kind<ServiceAccount>,
    /// Standard object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Secrets in the same namespace that pods running as this account may use.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub secrets: Vec<ObjectReference>,
    /// Secrets used to pull images for pods running as this account.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub image_pull_secrets: Vec<super::LocalObjectReference>,
    /// Whether pods running as this account get an API token mounted (pods may override).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
}
impl_resource!(ServiceAccount, info::SERVICE_ACCOUNT);

/// Bytes that YAML and JSON carry as standard base64 with padding (Go's `[]byte` encoding), as in
/// Secret `data` and ConfigMap `binaryData`. Held decoded; stored by bincode as raw bytes.
#[derive(
    Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, bincode::Encode, bincode::Decode,
)]
pub struct Bytes(pub Vec<u8>);

/// Base64 text that does not decode: the byte offset of the first character that cannot be
/// where it is (the input length when the text stops short).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal base64 data at input byte {offset}")]
pub struct InvalidBase64 {
    /// Offset into the input, in bytes.
    pub offset: usize,
}

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

impl Bytes {
    /// Standard base64 with `=` padding.
    pub fn to_base64(&self) -> String {
        let mut out = String::with_capacity(self.0.len().div_ceil(3) * 4);
        for chunk in self.0.chunks(3) {
            let b1 = chunk.get(1).copied().unwrap_or(0);
            let b2 = chunk.get(2).copied().unwrap_or(0);
            let group = u32::from(chunk[0]) << 16 | u32::from(b1) << 8 | u32::from(b2);
            for i in 0..4 {
                if i <= chunk.len() {
                    let sextet = (group >> (18 - 6 * i)) & 0x3f;
                    out.push(char::from(BASE64_ALPHABET[sextet as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// Decodes standard base64. Padding is required; line breaks (`\r`, `\n`) are skipped, as
    /// Go's `encoding/base64` (and so the Kubernetes API) skips them.
    pub fn from_base64(text: &str) -> Result<Self, InvalidBase64> {
        let mut out = Vec::with_capacity(text.len() / 4 * 3);
        let mut group = [0u8; 4];
        let mut filled = 0;
        let mut padding = 0;
        for (offset, c) in text.bytes().enumerate() {
            if c == b'\r' || c == b'\n' {
                continue;
            }
            if padding > 0 {
                // After the first `=`, only more `=` up to the end of the group may follow.
                if c == b'=' && filled + padding < 4 {
                    padding += 1;
                    continue;
                }
                return Err(InvalidBase64 { offset });
            }
            if c == b'=' {
                // A group holds at least two characters of data before its padding.
                if filled < 2 {
                    return Err(InvalidBase64 { offset });
                }
                padding = 1;
                continue;
            }
            group[filled] = base64_sextet(c).ok_or(InvalidBase64 { offset })?;
            filled += 1;
            if filled == 4 {
                out.extend_from_slice(&[
                    group[0] << 2 | group[1] >> 4,
                    group[1] << 4 | group[2] >> 2,
                    group[2] << 6 | group[3],
                ]);
                filled = 0;
            }
        }
        let short = InvalidBase64 { offset: text.len() };
        match (filled, padding) {
            (0, 0) => {}
            (2, 2) => out.push(group[0] << 2 | group[1] >> 4),
            (3, 1) => out
                .extend_from_slice(&[group[0] << 2 | group[1] >> 4, group[1] << 4 | group[2] >> 2]),
            _ => return Err(short),
        }
        Ok(Self(out))
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<&[u8]> for Bytes {
    fn from(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Shows the length only: these are mostly Secret values, and objects end up in logs and
/// assertion messages.
impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Bytes::from_base64(&text).map_err(de::Error::custom)
    }
}

/// Shared by the object tests: the conformance corpus and the round-trip check every kind runs.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::{Path, PathBuf};

    use crate::object::{Resource, TypeMeta, Value};

    /// The corpus sits beside the repository (`/work/shared`, or beside the clone in CI).
    const MANIFESTS_DIR: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/conformance/manifests"
    );

    /// Every document of kind `K` (at `K`'s apiVersion) in the conformance corpus, as
    /// `(file name, object)` in file-name order; `None` (after saying so) when the corpus is
    /// not there.
    ///
    /// Single-document files are read with `from_str`, files holding only `K` with
    /// `from_multiple`; in a file that mixes kinds, each `K` document is re-rendered on its own
    /// and read back.
    ///
    /// # Panics
    /// When a `K` document does not parse: the message names the file and the error.
    pub(crate) fn conformance_objects<K: Resource>() -> Option<Vec<(String, K)>> {
        let dir = Path::new(MANIFESTS_DIR);
        if !dir.is_dir() {
            eprintln!(
                "skipping: conformance corpus not found at {}",
                dir.display()
            );
            return None;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("corpus directory is readable")
            .map(|entry| entry.expect("corpus entry is readable").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
            .collect();
        files.sort();
        let is_k = |meta: &TypeMeta| {
            meta.kind.as_deref() == Some(K::INFO.kind)
                && meta.api_version.as_deref() == Some(K::INFO.api_version)
        };
        let mut found = Vec::new();
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let metas: Vec<TypeMeta> = serde_saphyr::from_multiple(&text)
                .unwrap_or_else(|e| panic!("{name}: not YAML: {e}"));
            if !metas.iter().any(is_k) {
                continue;
            }
            let parsed: Vec<K> = if metas.len() == 1 {
                vec![serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))]
            } else if metas.iter().all(is_k) {
                serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
            } else {
                let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
                docs.iter()
                    .zip(&metas)
                    .filter(|(_, meta)| is_k(meta))
                    .map(|(doc, _)| {
                        let yaml = serde_saphyr::to_string(doc).unwrap();
                        serde_saphyr::from_str(&yaml)
                            .unwrap_or_else(|e| panic!("{name}: {e}\n{yaml}"))
                    })
                    .collect()
            };
            found.extend(parsed.into_iter().map(|k| (name.clone(), k)));
        }
        Some(found)
    }

    /// `(file name, metadata.name)` of each object, for asserting which documents a corpus
    /// test covered.
    pub(crate) fn names<K: Resource>(objects: &[(String, K)]) -> Vec<(&str, &str)> {
        objects
            .iter()
            .map(|(file, k)| (file.as_str(), k.metadata().name_or_empty()))
            .collect()
    }

    /// Checks that `object` survives YAML, JSON and bincode unchanged: each text form reads back
    /// equal, and the bincode bytes decode equal, are consumed to the last byte and re-encode
    /// identically.
    pub(crate) fn assert_round_trips<K: Resource>(object: &K) {
        let yaml = serde_saphyr::to_string(object).unwrap();
        let from_yaml: K = serde_saphyr::from_str(&yaml)
            .unwrap_or_else(|e| panic!("own YAML does not parse: {e}\n{yaml}"));
        assert_eq!(
            &from_yaml, object,
            "YAML round trip changed the object:\n{yaml}"
        );

        let json = serde_json::to_string(object).unwrap();
        let from_json: K = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("own JSON does not parse: {e}\n{json}"));
        assert_eq!(
            &from_json, object,
            "JSON round trip changed the object:\n{json}"
        );

        let config = bincode::config::standard();
        let bytes = bincode::encode_to_vec(object, config).unwrap();
        let (decoded, used): (K, usize) = bincode::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(used, bytes.len(), "bincode left bytes unread");
        assert_eq!(&decoded, object, "bincode round trip changed the object");
        assert_eq!(
            bincode::encode_to_vec(&decoded, config).unwrap(),
            bytes,
            "bincode re-encoding differs"
        );
    }
}

/// OpenAPI: a base64 string (upstream `byte` format).
impl schemars::JsonSchema for Bytes {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Bytes".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "byte"})
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{assert_round_trips, conformance_objects, names};
    use super::*;

    #[test]
    fn base64_encodes_with_padding() {
        assert_eq!(Bytes::from(&b""[..]).to_base64(), "");
        assert_eq!(Bytes::from(&b"f"[..]).to_base64(), "Zg==");
        assert_eq!(Bytes::from(&b"fo"[..]).to_base64(), "Zm8=");
        assert_eq!(Bytes::from(&b"foo"[..]).to_base64(), "Zm9v");
        assert_eq!(Bytes::from(&b"foobar"[..]).to_base64(), "Zm9vYmFy");
        assert_eq!(Bytes(vec![0xfb, 0xff, 0xbf]).to_base64(), "+/+/");
    }

    #[test]
    fn base64_decodes_what_it_encodes() {
        for len in 0..=64u8 {
            let bytes = Bytes(
                (0..len)
                    .map(|i| i.wrapping_mul(37).wrapping_add(200))
                    .collect(),
            );
            assert_eq!(Bytes::from_base64(&bytes.to_base64()), Ok(bytes));
        }
    }

    #[test]
    fn base64_skips_line_breaks_like_upstream() {
        assert_eq!(
            Bytes::from_base64("Zm9v\r\nYmFy\n"),
            Ok(Bytes(b"foobar".to_vec()))
        );
    }

    #[test]
    fn base64_rejects_malformed_input_at_the_offending_byte() {
        let offset = |text| Bytes::from_base64(text).unwrap_err().offset;
        assert_eq!(offset("Zm9v!"), 4, "character outside the alphabet");
        assert_eq!(offset("Zm9 v"), 3, "space");
        assert_eq!(offset("Zm9vY"), 5, "one character short of a byte");
        assert_eq!(offset("Zm8"), 3, "missing padding");
        assert_eq!(offset("Zg="), 3, "half the padding");
        assert_eq!(offset("Z==="), 1, "padding after one character");
        assert_eq!(offset("Zm8=Zm8="), 4, "data after padding");
        assert_eq!(offset("Zg==="), 4, "too much padding");
        assert_eq!(offset("Zm9v-_"), 4, "URL-safe alphabet");
    }

    #[test]
    fn secret_data_is_decoded_and_written_back_as_base64() {
        let secret: Secret = serde_saphyr::from_str(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  password: dDBwLVNlY3JldA==\n  \
             empty: \"\"\nstringData:\n  username: admin\ntype: Opaque\n",
        )
        .unwrap();
        assert_eq!(secret.data["password"].0, b"t0p-Secret");
        assert_eq!(secret.data["empty"].0, b"");
        assert_eq!(secret.string_data["username"], "admin");
        assert_eq!(secret.type_.as_deref(), Some("Opaque"));
        assert_eq!(
            serde_json::to_string(&secret).unwrap(),
            r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"empty":"","password":"dDBwLVNlY3JldA=="},"stringData":{"username":"admin"},"type":"Opaque"}"#
        );
        assert_round_trips(&secret);
    }

    #[test]
    fn secret_with_bad_base64_is_rejected_with_the_offset() {
        let err = serde_json::from_str::<Secret>(r#"{"data":{"password":"dDBw!"}}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "illegal base64 data at input byte 4 at line 1 column 28"
        );
    }

    #[test]
    fn config_map_binary_data_is_base64() {
        let cm: ConfigMap = serde_json::from_str(
            r#"{"metadata":{"name":"c"},"data":{"a":"1"},"binaryData":{"blob":"AAH/"},"immutable":true}"#,
        )
        .unwrap();
        assert_eq!(cm.binary_data["blob"], Bytes(vec![0, 1, 255]));
        assert_eq!(format!("{:?}", cm.binary_data["blob"]), "Bytes(3 bytes)");
        assert_round_trips(&cm);
    }

    #[test]
    fn config_maps_in_the_corpus_round_trip() {
        let Some(objects) = conformance_objects::<ConfigMap>() else {
            return;
        };
        assert_eq!(
            names(&objects),
            [
                ("admin__sched__my-scheduler.yaml", "my-scheduler-config"),
                ("configmap__configmaps.yaml", "special-config"),
                ("configmap__configmaps.yaml", "env-config"),
                (
                    "configmap__immutable-configmap.yaml",
                    "company-name-20150801"
                ),
                (
                    "pods__config__example-redis-config.yaml",
                    "example-redis-config"
                ),
            ]
        );
        let immutable = &objects[3].1;
        assert_eq!(immutable.immutable, Some(true));
        assert_eq!(immutable.data["company_name"], "ACME, Inc.");
        assert_eq!(
            objects[4].1.data["redis-config"],
            "maxmemory 2mb\nmaxmemory-policy allkeys-lru\n"
        );
        for (_, cm) in &objects {
            assert_round_trips(cm);
        }
    }

    #[test]
    fn secrets_in_the_corpus_round_trip() {
        let Some(objects) = conformance_objects::<Secret>() else {
            return;
        };
        assert_eq!(
            names(&objects),
            [
                ("pods__inject__secret.yaml", "test-secret"),
                ("secret__basicauth-secret.yaml", "secret-basic-auth"),
                ("secret__dotfile-secret.yaml", "dotfile-secret"),
                (
                    "secret__serviceaccount-token-secret.yaml",
                    "secret-sa-sample"
                ),
            ]
        );
        assert_eq!(objects[0].1.data["username"].0, b"my-app");
        assert_eq!(objects[1].1.string_data["password"], "t0p-Secret");
        assert_eq!(objects[2].1.data[".secret-file"].0, b"value-2\r\n\r\n");
        assert_eq!(
            objects[3].1.type_.as_deref(),
            Some("kubernetes.io/service-account-token")
        );
        for (_, secret) in &objects {
            assert_round_trips(secret);
        }
    }

    #[test]
    fn service_accounts_in_the_corpus_round_trip() {
        let Some(objects) = conformance_objects::<ServiceAccount>() else {
            return;
        };
        assert_eq!(
            names(&objects),
            [
                (
                    "access__delegated-certificate-signing-request__serviceaccount.yaml",
                    "installer"
                ),
                ("admin__sched__my-scheduler.yaml", "my-scheduler"),
            ]
        );
        for (_, sa) in &objects {
            assert_round_trips(sa);
        }
    }

    #[test]
    fn service_account_accepts_every_upstream_field() {
        let sa: ServiceAccount = serde_saphyr::from_str(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: build-robot\n  \
             namespace: ci\nsecrets:\n- name: build-robot-token\n  kind: Secret\n\
             imagePullSecrets:\n- name: registry-key\nautomountServiceAccountToken: false\n",
        )
        .unwrap();
        assert_eq!(sa.secrets[0].name.as_deref(), Some("build-robot-token"));
        assert_eq!(
            sa.image_pull_secrets[0].name.as_deref(),
            Some("registry-key")
        );
        assert_eq!(sa.automount_service_account_token, Some(false));
        assert_round_trips(&sa);
    }

    #[test]
    fn namespaces_in_the_corpus_round_trip() {
        let Some(objects) = conformance_objects::<Namespace>() else {
            return;
        };
        assert_eq!(
            names(&objects),
            [("admin__namespace-dev.yaml", "development")]
        );
        assert_eq!(objects[0].1.metadata.labels["name"], "development");
        assert_round_trips(&objects[0].1);
    }

    #[test]
    fn namespace_accepts_every_upstream_field() {
        let ns: Namespace = serde_saphyr::from_str(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: old\nspec:\n  finalizers:\n  \
             - kubernetes\nstatus:\n  phase: Terminating\n  conditions:\n  - type: \
             NamespaceContentRemaining\n    status: \"True\"\n    lastTransitionTime: \
             \"2024-05-01T12:00:00Z\"\n    reason: SomeResourcesRemain\n    message: 'Some \
             resources are remaining: pods. has 1 resource instances'\n",
        )
        .unwrap();
        assert_eq!(ns.spec.finalizers, ["kubernetes"]);
        assert_eq!(ns.status.phase.as_deref(), Some("Terminating"));
        assert_eq!(ns.status.conditions[0].type_, "NamespaceContentRemaining");
        assert_eq!(ns.status.conditions[0].status, "True");
        assert_round_trips(&ns);
    }

    #[test]
    fn empty_spec_and_status_are_not_written() {
        let ns: Namespace =
            serde_json::from_str(r#"{"metadata":{"name":"a"},"spec":{},"status":{}}"#).unwrap();
        assert_eq!(
            serde_saphyr::to_string(&ns).unwrap(),
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"
        );
    }

    #[test]
    fn misspelled_field_is_an_unknown_field_error() {
        let err = serde_json::from_str::<ConfigMap>(r#"{"binarydata":{}}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown field `binarydata`, expected one of `apiVersion`, `kind`, `metadata`, \
             `data`, `binaryData`, `immutable` at line 1 column 13"
        );
    }
}
