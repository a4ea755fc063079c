import AudioDecoding
import Foundation
import Synchronization
import GRDB
import RetrieveCore
import SequenceEncoding
import TestSupport
import PipelineTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// How hard the torture tests push: `RETRIEVE_TORTURE=long` turns on the slow variants (more kills, a 10-hour
/// silent file); the default keeps the whole target well under a minute on two cores.
enum TortureMode {
    static var isLong: Bool { ProcessInfo.processInfo.environment["RETRIEVE_TORTURE"] == "long" }
    /// Seconds the property-based fuzzers run (`RETRIEVE_FUZZ_SECONDS`, default 2 per target).
    static var fuzzSeconds: Double {
        ProcessInfo.processInfo.environment["RETRIEVE_FUZZ_SECONDS"].flatMap(Double.init) ?? 2
    }
}

struct TortureFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs `retrieve` to completion and returns its exit, stdout and stderr.
struct RunResult {
    var exit: ChildExit
    var stdout: String
    var stderr: String
}

private let runCounter = Mutex(0)

///
/// With `timeout`, a run still going after that many seconds of its own is killed and the call throws: a test's
/// time limit would also count the time it waited for a thread behind other tests (minutes in a parallel run).
func runRetrieve(_ arguments: [String], in folder: URL, environment: [String: String] = [:],
                 timeout: TimeInterval? = nil) throws -> RunResult {
    let n = runCounter.withLock { value -> Int in
        value += 1
        return value
    }
    let child = try Child(try RetrieveBinary.require(), arguments, output: folder.appendingPathComponent("run\(n)"),
                          environment: environment)
    let exit: ChildExit
    if let timeout {
        guard let ended = child.wait(timeout: timeout) else {
            child.send(SIGKILL)
            child.wait()
            throw ChildProcessError("`retrieve \(arguments.joined(separator: " "))` was still running after "
                + "\(Int(timeout)) s and was killed")
        }
        exit = ended
    } else {
        exit = child.wait()
    }
    return RunResult(exit: exit, stdout: child.standardOutput, stderr: child.standardError)
}

/// Small helpers for building torture collections.
enum Torture {
    /// A random-weight model like `PipelineFixture`'s: tiny, so a debug build analyses a second of audio quickly.
    @discardableResult
    static func makeModel(at url: URL, seed: UInt64, embeddingSize: Int = 8, name: String? = nil,
                          features: FeatureConfiguration = FeatureConfiguration(topDecibels: nil),
                          levelRange: Float? = nil) throws
        -> SequenceEncoding.Encoder
    {
        let configuration = EncoderConfiguration(
            inputSize: 128, hiddenSize: 12, layers: 1, bidirectional: false, pooling: .mean,
            embeddingSize: embeddingSize, classNames: ["a", "b"], segmentFrames: 43, segmentHopFrames: 22,
            features: features, bandMean: [Float](repeating: -40, count: 128), bandStd: [Float](repeating: 20, count: 128),
            levelRange: levelRange)
        let encoder = SequenceEncoding.Encoder(configuration: configuration, seed: seed)
        try encoder.save(to: url, name: name ?? "torture-\(seed)-\(embeddingSize)")
        return try SequenceEncoding.Encoder.load(contentsOf: url)
    }

    /// A short two-tone signal whose pitch depends on `i`.
    static func tone(_ i: Int, seconds: Double, sampleRate: Int = 22_050) -> [Float] {
        Signals.chord([110 * Double(i % 12 + 1), 165 * Double(i % 7 + 1)], seconds: seconds, sampleRate: sampleRate)
    }

    /// A canonical 44-byte PCM WAV header (`Signals.wavHeader`).
    static func wavHeader(sampleRate: Int, channels: Int, bitsPerSample: Int, format: UInt16 = 1, dataBytes: UInt32)
        -> [UInt8]
    {
        Signals.wavHeader(
            sampleRate: sampleRate, channels: channels, bitsPerSample: bitsPerSample, format: format, dataBytes: dataBytes)
    }

    static func randomBytes(_ count: Int, _ rng: inout SeededGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    /// Creates a file whose name is the given raw bytes (which need not be valid UTF-8) inside `folder`.
    static func createFile(rawName: [UInt8], in folder: URL, contents: [UInt8]) throws {
        let path = Array(folder.path.utf8) + [UInt8(ascii: "/")] + rawName + [0]
        let fd = path.withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { open($0, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
        }
        guard fd >= 0 else { throw TortureFailure("cannot create raw-named file: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = contents.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == contents.count else { throw TortureFailure("short write of raw-named file") }
    }

    /// A sparse WAV of pure digital silence: a header declaring `seconds` of 16-bit mono, then a hole.
    /// Costs no disk space and no time to make, whatever its length.
    static func sparseSilentWAV(at url: URL, seconds: Double, sampleRate: Int) throws {
        let dataBytes = UInt32(seconds * Double(sampleRate)) * 2
        try Data(wavHeader(sampleRate: sampleRate, channels: 1, bitsPerSample: 16, dataBytes: dataBytes)).write(to: url)
        guard truncate(url.path, off_t(44) + off_t(dataBytes)) == 0 else {
            throw TortureFailure("cannot extend \(url.path): \(String(cString: strerror(errno)))")
        }
    }
}

/// Reads an index file directly (not through `IndexStore`), to check it the way an outsider would.
struct IndexSnapshot: Equatable {
    /// path → (track id, embedding bytes of every model, by model digest)
    var tracks: [String: Row]
    struct Row: Equatable {
        var id: Int64
        var vectors: [String: Data]
    }
    var failures: [String: String]

    /// `PRAGMA integrity_check` and `foreign_key_check`, then every track with its vectors.
    ///
    /// Opened read-write (as the next `retrieve` run would) so SQLite can recover a WAL left by a kill.
    static func read(_ path: String) throws -> IndexSnapshot {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in
            let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            guard integrity == ["ok"] else { throw TortureFailure("integrity_check of \(path): \(integrity)") }
            let foreign = try GRDB.Row.fetchAll(db, sql: "PRAGMA foreign_key_check")
            guard foreign.isEmpty else { throw TortureFailure("foreign_key_check of \(path): \(foreign.count) rows") }
            // A kill between SQLite creating the file and the schema's transaction committing leaves a database
            // with no tables at all, or with GRDB's empty bookkeeping table alone (the migrator creates it before
            // the first migration's transaction): no migration applied, which the next run migrates, an empty
            // index. Some schema tables but not all would mean a half-applied migration, which must never happen.
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
            if tables.isEmpty { return IndexSnapshot(tracks: [:], failures: [:]) }
            if tables == ["grdb_migrations"] {
                let applied = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM grdb_migrations") ?? 0
                guard applied == 0 else { throw TortureFailure("\(path) records \(applied) migrations but has no schema") }
                return IndexSnapshot(tracks: [:], failures: [:])
            }
            guard tables.contains("tracks") else { throw TortureFailure("\(path) has tables \(tables) but no tracks") }
            var tracks: [String: IndexSnapshot.Row] = [:]
            for row in try GRDB.Row.fetchAll(db, sql: "SELECT id, path FROM tracks") {
                let path: String = row[1]
                guard tracks[path] == nil else { throw TortureFailure("duplicate path \(path)") }
                tracks[path] = IndexSnapshot.Row(id: row[0], vectors: [:])
            }
            let byID = Dictionary(uniqueKeysWithValues: tracks.map { ($0.value.id, $0.key) })
            for row in try GRDB.Row.fetchAll(db, sql: """
                SELECT e.track_id, m.digest, e.vector FROM embeddings e JOIN models m ON m.id = e.model_id
                """) {
                let id: Int64 = row[0]
                guard let path = byID[id] else { throw TortureFailure("embedding of missing track \(id)") }
                tracks[path]!.vectors[row[1]] = row[2]
            }
            let failures = Dictionary(try GRDB.Row.fetchAll(db, sql: "SELECT path, reason FROM failures").map {
                (String($0[0] as String), String($0[1] as String))
            }, uniquingKeysWith: { a, _ in a })
            return IndexSnapshot(tracks: tracks, failures: failures)
        }
    }
}

extension Data {
    /// Little-endian float32 values.
    var floats: [Float] {
        withUnsafeBytes { raw in (0..<(count / 4)).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) } }
    }
}

/// Runs `body` on a thread of its own and suspends until it returns.
///
/// Swift Testing runs tests on the cooperative pool, which has one thread per core. The ten-minute fuzz mode's
/// synchronous loops held both pool threads of a 2-core machine for the whole ten minutes, so every other test
/// of the run waited — and one with a one-minute time limit failed. On a thread of their own they only share
/// the CPU.
func runOnOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
