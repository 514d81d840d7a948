//! Which directories [`HtdigestFile::watch`](super::HtdigestFile::watch) watches: the
//! file's own, and the directory of every symlink target on the way to the real file, so
//! a tool that follows the link and replaces the target in its own directory (as
//! `tower-htdigest` and most editors do) is seen, and so is a link pointed elsewhere.

use std::path::{Path, PathBuf};

/// How many symlinks are followed from the file's path, as Linux's own limit.
const MAX_LINKS: usize = 40;

/// The directories to watch for `path`, without duplicates: its own directory, then the
/// directory of each link target in turn. Each is canonical when it exists, so that one
/// directory reached by two spellings is watched once.
pub(super) fn dirs_to_watch(path: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut add = |file: &Path| {
        let dir = dir_of(file);
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    };
    add(path);
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let Ok(target) = std::fs::read_link(&current) else {
            break;
        };
        // A relative target is relative to the link's directory; an absolute one
        // replaces it in `join`.
        current = dir_of(&current).join(target);
        add(&current);
    }
    dirs
}

/// The directory a file is in (`.` for a bare file name).
pub(super) fn dir_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_file_has_its_own_directory_only() {
        let dir = std::env::temp_dir().join(format!("htdigest-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("users");
        std::fs::write(&file, "").unwrap();
        assert_eq!(dirs_to_watch(&file), [std::fs::canonicalize(&dir).unwrap()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bare_name_is_in_the_current_directory() {
        assert_eq!(dir_of(Path::new("users")), Path::new("."));
        assert_eq!(dir_of(Path::new("/users")), Path::new("/"));
    }
}
