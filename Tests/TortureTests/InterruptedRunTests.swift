import AudioDecoding
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A collection of short tracks and the index an uninterrupted run makes of it, shared by the kill tests.
final class KillFixture: @unchecked Sendable {
    let folder: TemporaryDirectory
    let music: URL
    let model: URL
    let trackCount: Int
    let reference: IndexSnapshot
    /// Wall time of the uninterrupted run, to spread kills over.
    let referenceSeconds: Double
    /// Wall time of a run with nothing to do: start-up, walking and planning.
    let idleSeconds: Double

    init(tracks: Int, seconds: Double) throws {
        folder = try TemporaryDirectory(prefix: "retrieve-torture-kill")
        music = folder.path("music")
        model = folder.path("model.safetensors")
        trackCount = tracks
        try FileManager.default.createDirectory(at: music, withIntermediateDirectories: true)
        try Torture.makeModel(at: model, seed: 11)
        let formats: [AudioFileFormat] = [.wav16, .flac16, .oggVorbis]
        for i in 0..<tracks {
            let format = formats[i % formats.count]
            try AudioFileWriter.write(Torture.tone(i, seconds: seconds), sampleRate: 22_050, format: format,
                                      to: music.appendingPathComponent(String(format: "t%03d.%@", i, format.fileExtension)))
        }
        let db = folder.path("reference.sqlite").path
        let started = Date()
        let run = try runRetrieve(Self.arguments(music: music, db: db, model: model), in: folder.url)
        referenceSeconds = Date().timeIntervalSince(started)
        guard run.exit.status == 0 else { throw TortureFailure("reference run: \(run.exit)\n\(run.stderr)") }
        reference = try IndexSnapshot.read(db)
        guard reference.tracks.count == tracks else { throw TortureFailure("reference run indexed \(reference.tracks.count)") }
        let idleStart = Date()
        _ = try runRetrieve(Self.arguments(music: music, db: db, model: model), in: folder.url)
        idleSeconds = Date().timeIntervalSince(idleStart)
    }

    static func arguments(music: URL, db: String, model: URL) -> [String] {
        ["index", music.path, "--db", db, "--model", model.path, "--batch-size", "2", "--jobs", "2", "-q"]
    }

    func arguments(db: String) -> [String] { Self.arguments(music: music, db: db, model: model) }

    /// The final index must equal the uninterrupted one: same paths, same vectors (bit for bit or within 1e-6).
    func expectEqualsReference(_ snapshot: IndexSnapshot, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(Set(snapshot.tracks.keys) == Set(reference.tracks.keys), sourceLocation: sourceLocation)
        #expect(snapshot.failures.isEmpty, "\(snapshot.failures)", sourceLocation: sourceLocation)
        var worst: Float = 0
        for (path, row) in reference.tracks {
            guard let other = snapshot.tracks[path] else { continue }
            #expect(other.vectors.keys == row.vectors.keys, sourceLocation: sourceLocation)
            for (digest, vector) in row.vectors {
                let a = vector.floats, b = other.vectors[digest]?.floats ?? []
                #expect(a.count == b.count, sourceLocation: sourceLocation)
                if a.count == b.count { worst = max(worst, Approx.maxAbsDifference(a, b)) }
            }
        }
        #expect(worst <= 1e-6, "embeddings differ from the uninterrupted run by \(worst)", sourceLocation: sourceLocation)
    }

    static let shared: Result<KillFixture, any Error> = Result {
        try KillFixture(tracks: TortureMode.isLong ? 60 : 48, seconds: TortureMode.isLong ? 3 : 2)
    }
}

@Suite(.serialized) struct InterruptedRunTests {
    /// SIGKILL at seeded random moments, again and again, then one run to the end.
    ///
    /// Kill moments are spread over start-up and the first part of the work still to do. How long that takes depends
    /// on the machine and its load, so the window adapts: a run that ends before its kill shrinks it, a kill that
    /// committed nothing new (still starting up) widens it, and once an index is complete the kills go on against a
    /// fresh one (a new round), so every kill hits a run with work left.
    @Test func killedRunsLoseNothingAndResume() throws {
        let fixture = try KillFixture.shared.get()
        let kills = TortureMode.isLong ? 100 : 20
        var rng = SeededGenerator(seed: 424_242)
        let perTrack = max(0.01, fixture.referenceSeconds - fixture.idleSeconds) / Double(fixture.trackCount)
        var round = 0
        var db = fixture.folder.path("killed-\(round).sqlite").path
        var previous = IndexSnapshot(tracks: [:], failures: [:])
        var landed = 0, finishedFirst = 0, attempts = 0, rowsLost = 0, rowsChanged = 0
        var windowScale = 1.0
        var progress: [Int] = []
        while landed < kills && attempts < kills * 3 {
            attempts += 1
            if previous.tracks.count == fixture.trackCount {
                round += 1
                db = fixture.folder.path("killed-\(round).sqlite").path
                previous = IndexSnapshot(tracks: [:], failures: [:])
            }
            let child = try Child(try RetrieveBinary.require(), fixture.arguments(db: db),
                                  output: fixture.folder.path("kill\(attempts)"))
            let remaining = Double(fixture.trackCount - previous.tracks.count) * perTrack
            let window = windowScale * (fixture.idleSeconds + 0.15 * remaining + 0.05)
            Thread.sleep(forTimeInterval: Double.random(in: 0.01...max(0.02, window), using: &rng))
            let ended = child.hasExited
            child.send(SIGKILL)
            let exit = child.wait()
            if ended || exit.signal == nil {
                finishedFirst += 1
                windowScale *= 0.7
                #expect(exit.status == 0, "a run that was not killed failed: \(exit)\n\(child.standardError)")
            } else {
                #expect(exit.signal == SIGKILL)
                landed += 1
            }
            guard FileManager.default.fileExists(atPath: db) else {  // killed before creating the index
                windowScale = min(windowScale * 1.25, 8)
                continue
            }
            let snapshot = try IndexSnapshot.read(db)  // throws unless integrity_check is ok
            // A kill that committed nothing new landed in start-up (slow under load): aim later next time.
            if !ended && exit.signal != nil && snapshot.tracks.count == previous.tracks.count {
                windowScale = min(windowScale * 1.25, 8)
            }
            for (path, row) in previous.tracks {
                guard let now = snapshot.tracks[path] else {
                    rowsLost += 1
                    continue
                }
                if now != row { rowsChanged += 1 }
            }
            #expect(snapshot.tracks.values.allSatisfy { $0.vectors.count == 1 }, "a track without its embedding")
            if !snapshot.tracks.isEmpty { try InterruptedExportTests.expectChunksMatchRows(db) }
            #expect(snapshot.failures.isEmpty, "\(snapshot.failures)")
            progress.append(snapshot.tracks.count)
            previous = snapshot
        }
        #expect(landed == kills, "only \(landed) of \(attempts) kills landed before the run finished")
        #expect(rowsLost == 0 && rowsChanged == 0, "\(rowsLost) rows lost, \(rowsChanged) rows changed by kills")

        let final = try runRetrieve(fixture.arguments(db: db), in: fixture.folder.url)
        #expect(final.exit.status == 0, "\(final.exit)\n\(final.stderr)")
        // A kill is not a crash: the killed runs' journals named no file, and the last run removed them.
        let journals = try FileManager.default.contentsOfDirectory(atPath: fixture.folder.url.path)
            .filter { $0.hasPrefix(URL(fileURLWithPath: db).lastPathComponent + "-crashes-") }
        #expect(journals.isEmpty, "\(journals)")
        let snapshot = try IndexSnapshot.read(db)
        for (path, row) in previous.tracks where snapshot.tracks[path] != row { rowsLost += 1 }
        fixture.expectEqualsReference(snapshot)
        print("reference run \(fixture.referenceSeconds) s, idle run \(fixture.idleSeconds) s")
        print("kills: \(landed) landed (of \(attempts) attempts, \(finishedFirst) runs finished first, \(round + 1) rounds), "
              + "tracks after each: \(progress), rows lost: \(rowsLost)")
    }

    /// A file that crashes the analysis (a real SIGSEGV on the analysing thread, injected for tests through
    /// `RETRIEVE_TEST_CRASH_ON`) kills that run; the next run records it as a failure naming the signal instead of
    /// crashing on it again, indexes everything else, and later runs skip it until `--retry-failures`.
    @Test func aFileThatCrashesTheAnalysisIsRecordedAndLeftOutNextTime() throws {
        let fixture = try KillFixture.shared.get()
        let db = fixture.folder.path("crash.sqlite").path
        let crasher = fixture.music.appendingPathComponent("t007.flac").path
        let crashed = try runRetrieve(
            fixture.arguments(db: db), in: fixture.folder.url, environment: ["RETRIEVE_TEST_CRASH_ON": "/t007.flac"])
        #expect(crashed.exit.signal == SIGSEGV, "\(crashed.exit)\n\(crashed.stderr.suffix(2000))")
        let journals = { () -> [String] in
            (try? FileManager.default.contentsOfDirectory(atPath: fixture.folder.url.path))?
                .filter { $0.hasPrefix("crash.sqlite-crashes-") } ?? []
        }
        #expect(journals().count == 1)

        let next = try runRetrieve(fixture.arguments(db: db) + ["--json"], in: fixture.folder.url)
        #expect(next.exit.status == 3, "\(next.exit)\n\(next.stderr)")
        let reason = "the analysis crashed on this file (signal 11, SIGSEGV) in an earlier run; it is left out until "
            + "it changes (or `retrieve index --retry-failures`)"
        let summary = try JSONSerialization.jsonObject(with: Data(next.stdout.utf8)) as? [String: Any]
        let failures = summary?["failures"] as? [[String: Any]] ?? []
        #expect(failures.count == 1 && failures.first?["path"] as? String == crasher
                && failures.first?["reason"] as? String == reason, "\(next.stdout)")
        var snapshot = try IndexSnapshot.read(db)
        #expect(snapshot.failures == [crasher: reason])
        #expect(Set(snapshot.tracks.keys) == Set(fixture.reference.tracks.keys).subtracting([crasher]))
        #expect(journals().isEmpty, "\(journals())")

        let again = try runRetrieve(fixture.arguments(db: db), in: fixture.folder.url)
        #expect(again.exit.status == 0 && again.stdout.contains("1 skipped (failed before)"), "\(again.stdout)")
        let retried = try runRetrieve(fixture.arguments(db: db) + ["--retry-failures"], in: fixture.folder.url)
        #expect(retried.exit.status == 0, "\(retried.exit)\n\(retried.stderr)")
        snapshot = try IndexSnapshot.read(db)
        fixture.expectEqualsReference(snapshot)
    }

    /// Ctrl-C, `kill` (SIGTERM) or a closed terminal (SIGHUP): a message, the batch in flight committed, exit
    /// 130, and a run that resumes.
    @Test(arguments: [SIGINT, SIGTERM, SIGHUP])
    func interruptStopsCleanlyAfterTheBatchInFlight(signal: Int32) throws {
        let fixture = try KillFixture.shared.get()
        let db = fixture.folder.path("interrupted-\(signal).sqlite").path
        let child = try Child(try RetrieveBinary.require(), fixture.arguments(db: db),
                              output: fixture.folder.path("signal-\(signal)"))
        // Wait for the first commits so the interrupt lands mid-run, not during start-up.
        let deadline = Date().addingTimeInterval(60)
        while !child.hasExited, Date() < deadline {
            if FileManager.default.fileExists(atPath: db + "-wal"),
               let count = try? IndexSnapshot.read(db).tracks.count, count >= 2 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(!child.hasExited, "the run finished before it could be interrupted")
        let atInterrupt = (try? IndexSnapshot.read(db).tracks.count) ?? -1
        child.send(signal)
        let exit = child.wait()
        #expect(exit.status == 130, "\(exit)\n\(child.standardError)")
        #expect(child.standardError.contains("retrieve: stopping after the batch in flight"), "\(child.standardError)")
        #expect(child.standardOutput.contains("interrupted: run `retrieve index` again to continue"),
                "\(child.standardOutput)")
        let stopped = try IndexSnapshot.read(db)
        #expect(stopped.tracks.count >= 2 && stopped.tracks.count < fixture.trackCount,
                "\(stopped.tracks.count) of \(fixture.trackCount) tracks after Ctrl-C (\(atInterrupt) at Ctrl-C)")
        #expect(stopped.tracks.values.allSatisfy { $0.vectors.count == 1 })
        let resumed = try runRetrieve(fixture.arguments(db: db) + ["--json"], in: fixture.folder.url)
        #expect(resumed.exit.status == 0, "\(resumed.exit)\n\(resumed.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any]
        #expect(summary?["added"] as? Int == fixture.trackCount - stopped.tracks.count)
        #expect(summary?["unchanged"] as? Int == stopped.tracks.count)
        fixture.expectEqualsReference(try IndexSnapshot.read(db))
    }

    /// Ctrl-C twice: the second one ends the process at once (exit 130), which must be as safe as a kill.
    @Test func secondInterruptStopsAtOnceAndLosesNothing() throws {
        let fixture = try KillFixture.shared.get()
        let db = fixture.folder.path("twice.sqlite").path
        let child = try Child(try RetrieveBinary.require(), fixture.arguments(db: db), output: fixture.folder.path("twice"))
        let deadline = Date().addingTimeInterval(60)
        while !child.hasExited, Date() < deadline {
            if FileManager.default.fileExists(atPath: db + "-wal"),
               let count = try? IndexSnapshot.read(db).tracks.count, count >= 2 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        child.send(SIGINT)
        Thread.sleep(forTimeInterval: 0.05)
        child.send(SIGINT)
        let exit = child.wait()
        #expect(exit.status == 130, "\(exit)\n\(child.standardError)")
        #expect(child.standardError.contains("retrieve: interrupted again, stopping now"), "\(child.standardError)")
        let stopped = try IndexSnapshot.read(db)
        #expect(stopped.tracks.values.allSatisfy { $0.vectors.count == 1 })
        let resumed = try runRetrieve(fixture.arguments(db: db), in: fixture.folder.url)
        #expect(resumed.exit.status == 0, "\(resumed.exit)\n\(resumed.stderr)")
        fixture.expectEqualsReference(try IndexSnapshot.read(db))
    }
}
