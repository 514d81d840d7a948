//! Writing a file whole: a reader sees the old file or the new one, never half of one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tower_digest_auth::credentials::htdigest::HtdigestUsers;

use crate::Failure;

/// The mode of a new file: the web server's group may read it, nobody else.
const NEW_FILE_MODE: u32 = 0o640;

/// Writes the file, then says if tower-digest-auth would refuse it (bad lines that were
/// there before, say): the tool edits such files, as Apache's does, but tells.
pub(crate) fn write_lines(
    path: &Path,
    mut lines: Vec<Vec<u8>>,
    realm: &str,
) -> Result<(), Failure> {
    // Apache's htdigest drops a last line without a line break.
    for line in &mut lines {
        if !line.ends_with(b"\n") {
            line.push(b'\n');
        }
    }
    let bytes = lines.concat();
    write_atomically(path, &bytes)
        .map_err(|error| Failure(format!("writing {}: {error}", path.display()), 1))?;
    if let Err(error) = HtdigestUsers::parse(&bytes, realm) {
        eprintln!(
            "tower-htdigest: warning: tower-digest-auth refuses {} as it is: {error}",
            path.display()
        );
    }
    Ok(())
}

/// Replaces `path` with `bytes` through a synced temporary file in the same directory,
/// keeping the old file's mode and owner. A symlink is followed: its target is replaced.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let target = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path)?,
        _ => path.to_path_buf(),
    };
    let old = fs::metadata(&target).ok();
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let tmp = dir.join(format!(
        ".{}.tower-htdigest-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mode = old
            .as_ref()
            .map_or(NEW_FILE_MODE, |meta| meta.permissions().mode() & 0o7777);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        if let Some(meta) = &old {
            // Root editing www-data's file must leave it www-data's. Anyone else can
            // keep the owner only if it is them: refuse rather than hand the file over.
            let _ = std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()));
            let new = file.metadata()?;
            if (new.uid(), new.gid()) != (meta.uid(), meta.gid()) {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "cannot keep the file's owner and group (run as its owner, or root)",
                ));
            }
        }
        // Set after the owner: the umask played no part, and no other user could read
        // the file while it was still someone else's.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &target)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
