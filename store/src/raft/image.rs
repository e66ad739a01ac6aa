//! A Raft snapshot is a store snapshot: every table of the store (the event log from the
//! compacted revision up, the projections, the indexes and `meta`) copied in one read
//! transaction — so at one revision, the one of the applied log id it is taken with — plus the
//! projection's state hash ([`crate::Store::state_hash`]), encoded and followed by a CRC-32 of
//! the encoding.
//!
//! Installing checks the CRC, loads the rows into a scratch in-memory database and compares its
//! state hash with the recorded one, and only then replaces the member's tables in one redb
//! transaction that also moves the applied log id and membership (`raft_meta`): a member
//! never holds half a snapshot, nor a snapshot whose "applied" mark disagrees with it.

use std::io;

use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
    TableHandle, WriteTransaction,
};

use super::TypeConfig;
use super::log_store::{META_APPLIED, META_MEMBERSHIP, put_meta};
use crate::store::hash_projection;
use crate::tables::{BY_NAMESPACE, BY_OWNER, EVENTS, KEY_REVISIONS, META, OBJECTS, PODS_BY_NODE};
use openraft::type_config::alias::{SnapshotMetaOf, StoredMembershipOf};

/// Format of a snapshot image. Bump on any change to [`Image`] or the tables it copies.
pub(crate) const IMAGE_FORMAT: u8 = 1;

const CRC_BYTES: usize = 4;

/// The rows of one table, as redb stores their keys and values.
type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// What a snapshot's bytes decode to.
#[derive(serde::Serialize, serde::Deserialize)]
struct Image {
    format: u8,
    /// [`crate::Store::state_hash`] of the copy.
    state_hash: u64,
    /// Every store table by name, in [`tables_of`] order.
    tables: Vec<(String, Rows)>,
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn invalid(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

/// Images are not bounded by the frame limit: they travel in chunks (`chunks.rs`).
fn image_config() -> impl bincode::config::Config {
    bincode::config::standard()
}

fn dump<K: redb::Key + 'static, V: redb::Value + 'static>(
    read: &ReadTransaction,
    table: TableDefinition<K, V>,
) -> io::Result<(String, Rows)> {
    let t = read.open_table(table).map_err(io_err)?;
    let mut rows = Vec::new();
    for row in t.iter().map_err(io_err)? {
        let (k, v) = row.map_err(io_err)?;
        rows.push((
            K::as_bytes(&k.value()).as_ref().to_vec(),
            V::as_bytes(&v.value()).as_ref().to_vec(),
        ));
    }
    Ok((table.name().to_owned(), rows))
}

fn load<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &WriteTransaction,
    table: TableDefinition<K, V>,
    (name, rows): &(String, Rows),
) -> io::Result<()> {
    if name != table.name() {
        return Err(invalid(format!(
            "snapshot table {name} where {} was expected",
            table.name()
        )));
    }
    let mut t = txn.open_table(table).map_err(io_err)?;
    t.retain(|_, _| false).map_err(io_err)?;
    for (k, v) in rows {
        t.insert(K::from_bytes(k), V::from_bytes(v))
            .map_err(io_err)?;
    }
    Ok(())
}

/// Every store table of `read`, in a fixed order.
fn tables_of(read: &ReadTransaction) -> io::Result<Vec<(String, Rows)>> {
    Ok(vec![
        dump(read, EVENTS)?,
        dump(read, OBJECTS)?,
        dump(read, KEY_REVISIONS)?,
        dump(read, PODS_BY_NODE)?,
        dump(read, BY_OWNER)?,
        dump(read, BY_NAMESPACE)?,
        dump(read, META)?,
    ])
}

/// Replaces every store table of `txn` with the image's rows.
fn load_tables(txn: &WriteTransaction, tables: &[(String, Rows)]) -> io::Result<()> {
    let [
        events,
        objects,
        key_revisions,
        pods,
        owners,
        namespaces,
        meta,
    ] = tables
    else {
        return Err(invalid(format!(
            "snapshot holds {} tables; 7 expected",
            tables.len()
        )));
    };
    load(txn, EVENTS, events)?;
    load(txn, OBJECTS, objects)?;
    load(txn, KEY_REVISIONS, key_revisions)?;
    load(txn, PODS_BY_NODE, pods)?;
    load(txn, BY_OWNER, owners)?;
    load(txn, BY_NAMESPACE, namespaces)?;
    load(txn, META, meta)?;
    Ok(())
}

/// Builds a snapshot of the store as of its applied log id: the meta (applied log id and
/// membership, read in the same transaction as the tables) and the image's bytes.
pub(crate) fn build(db: &Database) -> io::Result<(SnapshotMetaOf<TypeConfig>, Vec<u8>)> {
    let read = db.begin_read().map_err(io_err)?;
    let raft_meta = read
        .open_table(super::log_store::RAFT_META)
        .map_err(io_err)?;
    let get = |key: &str| -> io::Result<Option<Vec<u8>>> {
        Ok(raft_meta
            .get(key)
            .map_err(io_err)?
            .map(|v| v.value().to_vec()))
    };
    let last_log_id = match get(META_APPLIED)? {
        Some(bytes) => Some(super::decode(&bytes)?),
        None => None,
    };
    let last_membership = match get(META_MEMBERSHIP)? {
        Some(bytes) => super::decode(&bytes)?,
        None => StoredMembershipOf::<TypeConfig>::default(),
    };
    let image = Image {
        format: IMAGE_FORMAT,
        state_hash: hash_projection(&read).map_err(io_err)?,
        tables: tables_of(&read)?,
    };
    let mut bytes = bincode::serde::encode_to_vec(&image, image_config()).map_err(io_err)?;
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    Ok((
        SnapshotMetaOf::<TypeConfig> {
            last_log_id,
            last_membership,
        },
        bytes,
    ))
}

/// Checks a snapshot's bytes (CRC, format, and the state hash of its rows loaded into a
/// scratch database) and returns its image.
fn verify(data: &[u8]) -> io::Result<Image> {
    let Some(split) = data.len().checked_sub(CRC_BYTES) else {
        return Err(invalid(format!("snapshot of {} bytes", data.len())));
    };
    let (body, crc) = data.split_at(split);
    let mut crc_bytes = [0u8; CRC_BYTES];
    crc_bytes.copy_from_slice(crc);
    let recorded = u32::from_le_bytes(crc_bytes);
    let computed = crc32fast::hash(body);
    if recorded != computed {
        return Err(invalid(format!(
            "snapshot checksum mismatch: recorded {recorded:08x}, computed {computed:08x}"
        )));
    }
    let (image, used): (Image, usize) = bincode::serde::decode_from_slice(body, image_config())
        .map_err(|e| invalid(e.to_string()))?;
    if used != body.len() {
        return Err(invalid(format!(
            "snapshot has {} trailing bytes",
            body.len() - used
        )));
    }
    if image.format != IMAGE_FORMAT {
        return Err(invalid(format!(
            "snapshot format {} (this member reads {IMAGE_FORMAT})",
            image.format
        )));
    }
    let scratch = Database::builder()
        .create_with_backend(redb::backends::InMemoryBackend::new())
        .map_err(io_err)?;
    let txn = scratch.begin_write().map_err(io_err)?;
    load_tables(&txn, &image.tables)?;
    txn.commit().map_err(io_err)?;
    let hash = hash_projection(&scratch.begin_read().map_err(io_err)?).map_err(io_err)?;
    if hash != image.state_hash {
        return Err(invalid(format!(
            "snapshot state hash mismatch: recorded {:016x}, loaded {hash:016x}",
            image.state_hash
        )));
    }
    Ok(image)
}

/// Installs a verified snapshot as the member's whole store, with its applied log id and
/// membership, in one durable transaction.
pub(crate) fn install(
    db: &Database,
    meta: &SnapshotMetaOf<TypeConfig>,
    data: &[u8],
) -> io::Result<()> {
    let image = verify(data)?;
    let mut txn = db.begin_write().map_err(io_err)?;
    txn.set_durability(Durability::Immediate).map_err(io_err)?;
    txn.set_quick_repair(true);
    load_tables(&txn, &image.tables)?;
    if let Some(applied) = &meta.last_log_id {
        put_meta(&txn, META_APPLIED, applied)?;
    }
    put_meta(&txn, META_MEMBERSHIP, &meta.last_membership)?;
    txn.commit().map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::verify;

    #[test]
    fn a_snapshot_with_a_flipped_byte_is_refused_by_its_checksum() {
        let db = redb::Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap();
        // An empty store has every table once the store opened it.
        let txn = db.begin_write().unwrap();
        drop(txn.open_table(crate::tables::EVENTS).unwrap());
        drop(
            crate::tables::ProjectionTables::open(
                &txn,
                &skiff_core::object::KindRegistry::builtin(),
            )
            .unwrap(),
        );
        txn.commit().unwrap();
        crate::raft::log_store::init_tables(&db).unwrap();
        let (_, mut bytes) = super::build(&db).unwrap();
        assert!(verify(&bytes).is_ok());
        bytes[3] ^= 0x10;
        let err = verify(&bytes).err().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(
            err.to_string().starts_with("snapshot checksum mismatch"),
            "{err}"
        );
        assert_eq!(
            verify(&[1, 2]).err().unwrap().to_string(),
            "snapshot of 2 bytes"
        );
    }
}
