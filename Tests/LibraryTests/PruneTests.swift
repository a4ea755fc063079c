import Foundation
@testable import Analysis
@testable import Library
import RetrieveCore
import Testing
import TestSupport
import PipelineTestSupport
import VectorIndex

/// `retrieve index --prune` removes a track only on positive evidence that its file is gone (see `PrunePlan`).
///
/// These run in-process on real folders. Where a folder must fail to list (permissions mean nothing to root, and
/// an I/O error part-way through a listing cannot be staged), the scanner's `listFolder` is replaced: those tests
/// check the evidence logic with an injected walk result. `TortureTests/PruneTests` runs the real binary as
/// `nobody` on a folder it cannot read.
@Suite struct PruneTests {
    func pruning(force: Bool = false, dryRun: Bool = false) -> Indexer.Options {
        var options = Indexer.Options()
        options.prune = true
        options.force = force
        options.dryRun = dryRun
        return options
    }

    func trackNames(_ f: PipelineFixture) throws -> [String] {
        try f.store().allTracks().map { String($0.path.dropFirst(f.music.path.count + 1)) }.sorted()
    }

    @Test func aFolderThatFailsToListKeepsItsTracksEvenWhenTheirFilesAreGone() throws {
        let f = try PipelineFixture(tracks: 0)
        for i in 0..<2 { try f.writeTrack(index: i, in: "listed") }
        for i in 2..<5 { try f.writeTrack(index: i, in: "failing") }
        _ = try f.indexer().run(roots: [f.music.path])
        // Every file is deleted; only the listed folder's absence counts. The failing folder's listing breaks
        // part-way (EIO on a dying disk, a share dropping away): its tracks must survive.
        for name in ["listed/track00.wav", "failing/track02.ogg", "failing/track03.wav", "failing/track04.flac"] {
            try FileManager.default.removeItem(at: f.music.appendingPathComponent(name))
        }
        let indexer = try f.indexer(pruning())
        let failing = f.music.appendingPathComponent("failing").path
        indexer.scanner.listFolder = { folder in
            folder == failing
                ? .failure(.init(reason: "Input/output error", partial: true))
                : CollectionScanner.readFolder(folder)
        }
        let summary = try indexer.run(roots: [f.music.path])
        #expect(summary.removed == 1 && summary.removedPaths == [f.music.path + "/listed/track00.wav"])
        #expect(summary.failures.contains {
            $0.path == failing && $0.reason == "folder could not be listed to the end (Input/output error)"
        })
        #expect(try trackNames(f) == ["failing/track02.ogg", "failing/track03.wav", "failing/track04.flac",
                                      "listed/track01.flac"])
    }

    @Test func aRootWhoseOwnListingFailsIsAnErrorAndNothingIsPruned() throws {
        let f = try PipelineFixture(tracks: 3)
        _ = try f.indexer().run(roots: [f.music.path])
        try FileManager.default.removeItem(at: f.music.appendingPathComponent("track00.wav"))
        let indexer = try f.indexer(pruning(force: true))
        indexer.scanner.listFolder = { _ in .failure(.init(reason: "Permission denied")) }
        #expect(throws: LibraryError.unreadableRoot(path: f.music.path, reason: "Permission denied")) {
            _ = try indexer.run(roots: [f.music.path + "/"])
        }
        #expect(try f.store().trackCount() == 3)
    }

    @Test(arguments: ["unmounted/music", "gone.wav"])
    func aMissingRootIsAnErrorNotAnEmptyFolder(name: String) throws {
        let f = try PipelineFixture(tracks: 3)
        _ = try f.indexer().run(roots: [f.music.path])
        let missing = f.folder.path(name).path
        let error = try #require(throws: LibraryError.self) {
            _ = try f.indexer(pruning(force: true)).run(roots: [f.music.path, missing])
        }
        #expect(error == .unreadableRoot(path: missing, reason: "No such file or directory"))
        #expect(error.description.hasPrefix(missing + ": cannot be read") && !error.description.contains("\n"))
        #expect(try f.store().trackCount() == 3)
    }

    @Test func aRootGivenAsAFileIsPrunedOnlyThroughItsFolder() throws {
        let f = try PipelineFixture(tracks: 2)
        let file = f.music.appendingPathComponent("track01.flac").path
        _ = try f.indexer().run(roots: [file])
        #expect(try f.indexer(pruning()).run(roots: [file]).removed == 0)
        try FileManager.default.removeItem(atPath: file)
        // The root itself is gone: that is an error (a typo looks the same), and the track stays.
        #expect(throws: LibraryError.unreadableRoot(path: file, reason: "No such file or directory")) {
            _ = try f.indexer(pruning()).run(roots: [file])
        }
        #expect(try f.store().trackCount() == 1)
        // Through its folder, which lists without it, the same track is gone.
        #expect(try f.indexer(pruning()).run(roots: [f.music.path]).removedPaths == [file])
    }

    @Test(arguments: ["trailing/", "sub/../", "./sub/..//", "symlink"])
    func aRootSpeltAnotherWayPrunesTheSameTracks(spelling: String) throws {
        let f = try PipelineFixture(tracks: 4)
        try FileManager.default.createDirectory(at: f.music.appendingPathComponent("sub"), withIntermediateDirectories: true)
        let link = f.folder.path("link")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: f.music)
        _ = try f.indexer().run(roots: [f.music.path])
        try FileManager.default.removeItem(at: f.music.appendingPathComponent("track02.ogg"))
        let root = switch spelling {
        case "trailing/": f.music.path + "/"
        case "symlink": link.path
        default: f.music.path + "/" + spelling
        }
        let summary = try f.indexer(pruning()).run(roots: [root])
        #expect(summary.removedPaths == [f.music.path + "/track02.ogg"], "\(root)")
        // (Through the symlink the files are new paths, indexed beside the old ones: a separate matter.)
        if spelling != "symlink" { #expect(try trackNames(f) == ["track00.wav", "track01.flac", "track03.wav"]) }
    }

    @Test func tracksIndexedThroughASymlinkArePrunedThroughTheSymlinkOnly() throws {
        let f = try PipelineFixture(tracks: 3)
        let link = f.folder.path("link")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: f.music)
        _ = try f.indexer().run(roots: [link.path])
        try FileManager.default.removeItem(at: f.music.appendingPathComponent("track00.wav"))
        // `index music --prune` after `index link`: the tracks are stored under link/, which is not spelt under
        // music/; they are out of that root's scope and kept (never removed on a guess). Through link/ they go.
        #expect(try f.indexer(pruning(dryRun: true)).run(roots: [f.music.path]).removed == 0)
        let summary = try f.indexer(pruning()).run(roots: [link.path])
        #expect(summary.removedPaths == [link.path + "/track00.wav"])
    }

    @Test func aNameSpeltWithAnotherNormalisationOrCaseIsNotGone() throws {
        let f = try PipelineFixture(tracks: 1)
        let nfc = "Caf\u{E9} Noir.wav", nfd = "Cafe\u{301} Noir.wav"
        try FileManager.default.moveItem(at: f.music.appendingPathComponent("track00.wav"),
                                         to: f.music.appendingPathComponent(nfc))
        let scan = CollectionScanner().scan([f.music.path])
        #expect(!PrunePlan.isGone(f.music.path + "/" + nfc, scan: scan))  // exists
        // The folder lists the NFC name; a track stored under the NFD or upper-case spelling is kept, whether or not
        // this file system opens it under that spelling.
        #expect(!PrunePlan.isGone(f.music.path + "/" + nfd, scan: scan))
        #expect(!PrunePlan.isGone(f.music.path + "/CAF\u{C9} NOIR.WAV", scan: scan))
        #expect(PrunePlan.isGone(f.music.path + "/Cafe Noir.wav", scan: scan))
        // A whole sub-folder gone is evidence through its listed parent; a folder never listed is not.
        #expect(PrunePlan.isGone(f.music.path + "/album/cd1/x.wav", scan: scan))
        #expect(!PrunePlan.isGone(f.folder.path("elsewhere/x.wav").path, scan: scan))
        #expect(!PrunePlan.isGone(f.folder.path("x.wav").path, scan: scan))
    }

    @Test func aDanglingSymlinkIsNotGone() throws {
        let f = try PipelineFixture(tracks: 0)
        let link = f.music.appendingPathComponent("on-the-usb-stick.wav")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: "/nonexistent/drive/x.wav")
        #expect(!PrunePlan.isGone(link.path, scan: CollectionScanner().scan([f.music.path])))
    }

    @Test func anEmptiedFolderIsRefusedWithoutForceAndSaysWhatWouldGo() throws {
        // A mount point with nothing mounted: the folder lists fine, and is empty.
        let f = try PipelineFixture(tracks: 8)
        _ = try f.indexer().run(roots: [f.music.path])
        let drive = f.folder.path("unmounted")
        try FileManager.default.moveItem(at: f.music, to: drive)
        try FileManager.default.createDirectory(at: f.music, withIntermediateDirectories: true)
        let error = try #require(throws: LibraryError.self) { _ = try f.indexer(pruning()).run(roots: [f.music.path]) }
        guard case .pruneRefused(let root, let removing, let indexed, let examples) = error else {
            Issue.record("\(error)")
            return
        }
        #expect(root == f.music.path && removing == 8 && indexed == 8 && examples.count == 8)
        let text = error.description
        #expect(text.contains("refusing to prune 8 of the 8 tracks indexed under \(f.music.path)") && text.contains("--force"))
        #expect(text.contains(f.music.path + "/track00.wav") && text.contains("… and 3 more"))
        #expect(try f.store().trackCount() == 8)
        // A dry run says the same without failing; --force removes them.
        let dry = try f.indexer(pruning(dryRun: true)).run(roots: [f.music.path])
        #expect(dry.removed == 8 && dry.pruneRefusals.map(\.path) == [f.music.path])
        #expect(try f.store().trackCount() == 8)
        #expect(try f.indexer(pruning(force: true)).run(roots: [f.music.path]).removed == 8)
        #expect(try f.store().trackCount() == 0)
    }

    @Test func aFewGoneOrLessThanHalfArePrunedWithoutForce() throws {
        let f = try PipelineFixture(tracks: 12)
        _ = try f.indexer().run(roots: [f.music.path])
        for i in 0..<6 {  // half of them (not more), over the quiet limit
            try FileManager.default.removeItem(at: f.music.appendingPathComponent(
                String(format: "track%02d.%@", i, ["wav", "flac", "ogg"][i % 3])))
        }
        #expect(try f.indexer(pruning()).run(roots: [f.music.path]).removed == 6)
        let small = try PipelineFixture(tracks: 3)
        _ = try small.indexer().run(roots: [small.music.path])
        try FileManager.default.removeItem(at: small.music)
        try FileManager.default.createDirectory(at: small.music, withIntermediateDirectories: true)
        #expect(try small.indexer(pruning()).run(roots: [small.music.path]).removed == 3)  // all, but only 3
    }

    @Test func failureRecordsOfGoneFilesArePrunedToo() throws {
        let f = try PipelineFixture(tracks: 2)
        let bad = f.music.appendingPathComponent("bad.ogg")
        try Data("not audio".utf8).write(to: bad)
        _ = try f.indexer().run(roots: [f.music.path])
        #expect(try f.store().failures().map(\.path) == [bad.path])
        try FileManager.default.removeItem(at: bad)
        #expect(try f.indexer(pruning()).run(roots: [f.music.path]).removed == 0)
        #expect(try f.store().failures().isEmpty && f.store().trackCount() == 2)
    }

    @Test func withoutPruneAMissingRootIsAnErrorToo() throws {
        let f = try PipelineFixture(tracks: 1)
        let missing = f.folder.path("typo").path
        #expect(throws: LibraryError.unreadableRoot(path: missing, reason: "No such file or directory")) {
            _ = try f.indexer().run(roots: [f.music.path, missing])
        }
        #expect(try f.store().trackCount() == 0)
    }

    @Test func aMovedFileIsMovedNotPruned() throws {
        let f = try PipelineFixture(tracks: 2)
        _ = try f.indexer().run(roots: [f.music.path])
        try FileManager.default.createDirectory(at: f.music.appendingPathComponent("new"), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: f.music.appendingPathComponent("track00.wav"),
                                         to: f.music.appendingPathComponent("new/track00.wav"))
        let summary = try f.indexer(pruning()).run(roots: [f.music.path])
        #expect(summary.moved == 1 && summary.removed == 0)
        #expect(try trackNames(f) == ["new/track00.wav", "track01.flac"])
    }
}
