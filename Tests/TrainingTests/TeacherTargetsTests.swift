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

    /// Mixes load for pairs of training tracks only, their targets z-scored as the tracks' patches are (a mix whose
    /// teacher row equals a patch's gets that patch's unit target); a damaged mixes.npy is refused with the remedy.
    @Test func mixesPairTrainingTracksAndShareTheTracksScale() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-teacher")
        let dir = folder.path("teacher")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let one = Matrix(rowArrays: [[3, 0, 1, 0], [0, 2, 0, 1], [1, 1, -2, 0]])
        let two = Matrix(rowArrays: [[0, 1, 1, 1], [2, 0, 0, -1]])
        try NumPyArray(one).write(to: dir.appendingPathComponent("abc.npy"))
        try NumPyArray(two).write(to: dir.appendingPathComponent("def.npy"))
        try "path,sha256,patches,patch_seconds,model\na/one.wav,abc,3,3,toy\na/two.wav,def,2,3,toy\n"
            .write(to: dir.appendingPathComponent("index.csv"), atomically: true, encoding: .utf8)
        try """
            path_a,patch_a,path_b,patch_b,gain_a_db,gain_b_db
            a/one.wav,1,a/two.wav,0,-1.5,-4.5
            a/one.wav,0,a/three.wav,0,-3,-3
            a/two.wav,1,a/one.wav,2,-6,0
            """.write(to: dir.appendingPathComponent("mixes.csv"), atomically: true, encoding: .utf8)
        let mixRows = Matrix(rowArrays: [one.row(1), [5, 5, 5, 5], two.row(1)])
        try NumPyArray(mixRows).write(to: dir.appendingPathComponent("mixes.npy"))
        var lines: [String] = []
        let paths = ["/corpus/a/one.wav", "/corpus/a/two.wav", "/corpus/b/four.wav"]
        let t = try TeacherTargets(directory: dir.path, trackPaths: paths, mixes: true) { lines.append($0) }
        #expect(t.mixes.map(\.count) == [1, 1, 0])
        let first = try #require(t.mixes[0].first), second = try #require(t.mixes[1].first)
        #expect(first.patch == 1 && first.other == 1 && first.otherPatch == 0 && first.gain == -1.5 && first.otherGain == -4.5)
        #expect(second.other == 0 && second.otherPatch == 2 && second.gain == -6)
        #expect(Self.close(first.target, try #require(t.perTrack[0]).row(1)))
        #expect(Self.close(second.target, try #require(t.perTrack[1]).row(1)))
        #expect(lines.contains("teacher mixes: 2 of 3 in \(dir.path)/mixes.csv pair two training tracks"), "\(lines)")
        // Without asking, none are loaded; a patch centre lies inside the audio given.
        let plain = try TeacherTargets(directory: dir.path, trackPaths: paths) { _ in }
        #expect(plain.mixes.allSatisfy { $0.isEmpty })
        var rng = SplitMix64(seed: 3)
        for _ in 0..<20 {
            let centre = try #require(t.patchCentre(track: 0, within: 7, rng: &rng))
            #expect(centre == 1.5 || centre == 4.5)
        }
        #expect(t.patchCentre(track: 0, within: 2.9, rng: &rng) == nil && t.patchCentre(track: 2, within: 60, rng: &rng) == nil)
        // A mixes.npy that does not match mixes.csv is refused, naming the file and the command that remakes it.
        try NumPyArray(Matrix(rowArrays: [one.row(0)])).write(to: dir.appendingPathComponent("mixes.npy"))
        #expect {
            try TeacherTargets(directory: dir.path, trackPaths: paths, mixes: true) { _ in }
        } throws: { "\($0)".contains("mixes.npy is missing, damaged or not 3 × 4") && "\($0)".contains("--mixes-per-track") }
    }

    /// A crop's target: a mix crop takes its mix's row, the others their patch's (centre, aligned) or the
    /// overlap mix of the patches they cover.
    @Test func cropTargetsTakeAMixCropsOwnRow() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-teacher")
        let t = try Self.targets(folder)
        let rows = try #require(t.perTrack[0])
        let segment = Matrix(rows: 1, columns: 1)
        // Frames of 0.5 s: crop 0 centred at 4.5 s (patch 1), crop 1 a mix, crop 2 spans 1.5…4.5 s.
        let crops = [(segment, 9.0, 6), (segment, 9.0, 6), (segment, 6.0, 6)]
        let mix: [Float] = [0, 0, 0, 1]
        for choice in TeacherCropTarget.allCases {
            let m = EpochRunner.cropTargets(t, picks: [0, 0, 0], crops: crops, mixTargets: [1: mix], choice: choice,
                                            secondsPerFrame: 0.5)
            #expect(Self.close(m.row(0), rows.row(1)) && m.row(1) == mix, "\(choice)")
            let across = Embedding(normalising: zip(rows.row(0), rows.row(1)).map { $0 + $1 }).values
            #expect(Self.close(m.row(2), choice == .overlap ? across : rows.row(1)), "\(choice)")
        }
    }
}
