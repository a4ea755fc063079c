import Foundation
import RetrieveCore
import Testing
import TestSupport
@testable import Training

@Suite struct TeacherTargetsTests {
    /// One track with three 3-s patches of distinct teacher features, one track without a row.
    static func targets(_ folder: TemporaryDirectory) throws -> TeacherTargets {
        let dir = folder.path("teacher")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let m = Matrix(rowArrays: [[3, 0, 1, 0], [0, 2, 0, 1], [1, 1, -2, 0]])
        try NumPyArray(m).write(to: dir.appendingPathComponent("abc.npy"))
        try "path,sha256,patches,patch_seconds,model\na/one.wav,abc,3,3,toy\n"
            .write(to: dir.appendingPathComponent("index.csv"), atomically: true, encoding: .utf8)
        return try TeacherTargets(directory: dir.path, trackPaths: ["/corpus/a/one.wav", "/corpus/a/two.wav"]) { _ in }
    }

    static func close(_ a: [Float], _ b: [Float]) -> Bool { zip(a, b).allSatisfy { abs($0 - $1) < 1e-6 } }

    /// A crop's overlap target mixes the patches it covers by overlap: on a patch it is that patch's row, across
    /// a boundary the normalised overlap-weighted sum, past the end the last patch's row (as the centre's target
    /// clamps); a track without targets gets zeros.
    @Test func overlapTargetsMixThePatchesACropCovers() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-teacher")
        let t = try Self.targets(folder)
        let rows = try #require(t.perTrack[0])
        #expect(Self.close(t.target(track: 0, from: 3, to: 6), rows.row(1)))
        #expect(Self.close(t.target(track: 0, from: 3, to: 6), t.target(track: 0, seconds: 4.5)))
        // Half of patch 0, half of patch 1.
        let half = Embedding(normalising: zip(rows.row(0), rows.row(1)).map { $0 + $1 }).values
        #expect(Self.close(t.target(track: 0, from: 1.5, to: 4.5), half))
        // A third of patch 0, two thirds of patch 1: not the centre's patch alone, nearer patch 1 than patch 0.
        let mixed = t.target(track: 0, from: 2, to: 5)
        let expected = Embedding(normalising: zip(rows.row(0), rows.row(1)).map { 1 * $0 + 2 * $1 }).values
        #expect(Self.close(mixed, expected) && !Self.close(mixed, rows.row(1)))
        func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        #expect(dot(mixed, rows.row(1)) > dot(mixed, rows.row(0)))
        // Past the last patch: the tail counts towards patch 2.
        #expect(Self.close(t.target(track: 0, from: 7, to: 10), rows.row(2)))
        #expect(t.target(track: 1, from: 0, to: 3).allSatisfy { $0 == 0 })
        #expect(t.target(track: 1, from: 0, to: 3).count == t.dimensions)
    }
}
