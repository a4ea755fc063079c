import Foundation
import RetrieveCore
public import VectorIndex
public import Analysis

/// Which indexed tracks `retrieve index --prune` removes, decided from positive evidence only.
///
/// **The evidence rule.** A track under one of the roots is gone when its file's own `lstat` says it does not
/// exist (ENOENT, or ENOTDIR for a folder on its path that became a file), *and* the nearest folder on its path
/// that still exists was listed to the end in this very walk (the same device and inode, so a symlinked root,
/// a trailing slash or `..` in the root all agree), *and* that listing holds no name equal to the missing one up to
/// Unicode normalisation (NFC/NFD) or letter case. Anything else keeps the track: a folder that could not be
/// opened or failed part-way through its listing, a file whose `lstat` fails for any other reason (EACCES, EIO,
/// ELOOP), a dangling symlink (the link exists; its target may be on a drive that is not mounted), a file that
/// exists under its stored name in any form.
///
/// **The share rule.** A root that would lose more than `maximumShare` (half) of the tracks indexed under it, and
/// more than `quietLimit` (5) tracks, is refused unless forced: an empty mount point where a drive used to be, or a
/// folder moved elsewhere, looks exactly like thousands of deleted files, and the evidence rule cannot tell them
/// apart. Small collections can lose a few tracks without asking.
public struct PrunePlan: Sendable {
    /// At most this many tracks of a root are removed without `--force` whatever their share.
    public static let quietLimit = 5
    /// A root losing more than this share of its indexed tracks (and more than `quietLimit`) needs `--force`.
    public static let maximumShare = 0.5

    /// One root's part of the plan.
    public struct Root: Sendable, Equatable {
        /// The root, absolute, as given.
        public let path: String
        /// Tracks indexed under it before the prune.
        public let indexed: Int
        /// Paths of its tracks whose files are gone, sorted.
        public let gone: [String]

        /// Whether removing `gone` needs `--force` (see the share rule).
        public var needsForce: Bool {
            gone.count > PrunePlan.quietLimit && Double(gone.count) > PrunePlan.maximumShare * Double(indexed)
        }
    }

    /// Tracks to remove (ids), each positively gone.
    public var tracks: [TrackID] = []
    /// Paths of the removed tracks, sorted, for the report.
    public var trackPaths: [String] = []
    /// Failure records whose files (or folders) are positively gone.
    public var failurePaths: [String] = []
    /// Each root's count of indexed and gone tracks, in the order given.
    public var roots: [Root] = []

    /// The roots whose removals need `--force`.
    public var refusals: [Root] { roots.filter(\.needsForce) }

    /// Plans a prune of `tracks` and `failures` under the roots of `scan`, keeping `keep` (tracks just recognised
    /// as moved, whose rows live on under their new paths).
    ///
    /// Every root must have been read: the caller refuses to prune when one could not be (see
    /// `Indexer.unreadableRoots`). Touches the file system (`lstat`, `stat`) once or a few times per track under a
    /// root.
    public static func make(
        tracks: [TrackRecord], failures: [String], scan: CollectionScan,
        keep: Set<TrackID> = []
    ) -> PrunePlan {
        let scopes = scan.roots.map { RootScope($0.path) }
        var plan = PrunePlan()
        var gone: [[String]] = Array(repeating: [], count: scopes.count)
        var indexed = Array(repeating: 0, count: scopes.count)
        var removed: [(TrackID, String)] = []
        for track in tracks {
            guard let id = track.id else { continue }
            let holders = scopes.indices.filter { scopes[$0].contains(track.path) }
            if holders.isEmpty { continue }
            for r in holders { indexed[r] += 1 }
            guard !keep.contains(id), isGone(track.path, scan: scan) else { continue }
            for r in holders { gone[r].append(track.path) }
            removed.append((id, track.path))
        }
        removed.sort { $0.1 < $1.1 }
        plan.tracks = removed.map(\.0)
        plan.trackPaths = removed.map(\.1)
        plan.failurePaths = failures.filter { path in scopes.contains { $0.contains(path) } && isGone(path, scan: scan)
        }
        plan.roots = scopes.indices.map {
            Root(path: scan.roots[$0].path, indexed: indexed[$0], gone: gone[$0].sorted())
        }
        return plan
    }

    /// Whether the file system says `path` does not exist (`lstat` fails with ENOENT or ENOTDIR), the weaker
    /// evidence a move needs: an unreadable folder (EACCES), a failing disk (EIO) or a dangling symlink is not
    /// absence. Used when a file with a track's content turns up elsewhere, whose old folder may lie outside
    /// the walk.
    public static func fileIsAbsent(_ path: String) -> Bool {
        var info = stat()
        if lstat(path, &info) == 0 { return false }
        return errno == ENOENT || errno == ENOTDIR
    }

    /// Whether `path` is positively known to be gone, by the evidence rule above.
    public static func isGone(_ path: String, scan: CollectionScan) -> Bool {
        var missing = path
        while true {
            var info = stat()
            if lstat(missing, &info) == 0 { return false }
            guard errno == ENOENT || errno == ENOTDIR else { return false }
            let parent = (missing as NSString).deletingLastPathComponent
            if parent == missing || parent.isEmpty { return false }
            var parentInfo = stat()
            if stat(parent, &parentInfo) == 0 {
                guard (parentInfo.st_mode & S_IFMT) == S_IFDIR, let listing = scan.listing(ofFolderAt: parent) else {
                    return false
                }
                return !listing.contains(nameLike: (missing as NSString).lastPathComponent)
            }
            guard errno == ENOENT || errno == ENOTDIR else { return false }
            missing = parent
        }
    }

    /// The paths a root covers: itself and everything below it, spelt as given or through its resolved form
    /// (tracks indexed through a symlink's target, or the target through the symlink).
    private struct RootScope {
        let prefixes: [String]

        init(_ root: String) {
            var forms = [root]
            if let resolved = realpath(root, nil) {
                forms.append(String(cString: resolved))
                free(resolved)
            }
            prefixes = Array(Set(forms))
        }

        func contains(_ path: String) -> Bool {
            prefixes.contains { root in
                path == root || path.hasPrefix(root == "/" ? "/" : root + "/")
            }
        }
    }
}
