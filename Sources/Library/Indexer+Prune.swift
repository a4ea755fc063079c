import Foundation
import RetrieveCore
import VectorIndex
import Analysis

extension Indexer {
    /// Removes the tracks of `scan`'s roots whose files are positively gone (`PrunePlan`), keeping those the
    /// planned `actions` move or re-analyse; refuses a large share of a root without `force`.
    func prune(scan: CollectionScan, keeping actions: [Action], summary: inout Summary) throws {
        let plan = try Self.prunePlan(
            scan: scan, keeping: actions, tracks: try store.allTracks(), failures: try store.failures().map(\.path),
            force: options.force, dryRun: options.dryRun, summary: &summary)
        if !options.dryRun { try store.prune(tracks: plan.tracks, failures: plan.failurePaths) }
    }

    /// The prune of `scan`'s roots over `tracks` and `failures` (the index's): refused (thrown) for a root losing a
    /// large share without `force` unless a dry run; the summary gets what is (or would be) removed.
    static func prunePlan(
        scan: CollectionScan, keeping actions: [Action], tracks: [TrackRecord], failures: [String], force: Bool,
        dryRun: Bool, summary: inout Summary
    ) throws -> PrunePlan {
        // Tracks recognised as moved live on under their new path; re-analysed ones keep their row too.
        let claimed = Set(
            actions.compactMap { action -> TrackID? in
                switch action {
                case .move(_, let existing), .analyse(_, let existing, _): existing.id
                case .add: nil
                }
            })
        let plan = PrunePlan.make(tracks: tracks, failures: failures, scan: scan, keep: claimed)
        if !force, let refused = plan.refusals.first, !dryRun {
            throw LibraryError.pruneRefused(
                root: refused.path, removing: refused.gone.count,
                indexed: refused.indexed, examples: refused.gone)
        }
        if !force { summary.pruneRefusals = plan.refusals }
        summary.removed = plan.tracks.count
        summary.removedPaths = plan.trackPaths
        return plan
    }

    /// What a dry run would do, counted from the plan.
    static func count(_ actions: [Action], into summary: inout Summary) {
        for action in actions {
            switch action {
            case .add: summary.added += 1
            case .analyse(_, _, .changed): summary.updated += 1
            case .analyse(_, _, .otherModel), .analyse(_, _, .noSegments): summary.reembedded += 1
            case .move: summary.moved += 1
            }
        }
    }
}
