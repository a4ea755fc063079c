import AudioDecoding
import Foundation
import RetrieveCore
import TestSupport
import Testing

@testable import retrieve

@Suite struct FeaturesCommandTests {
    @Test func parsesOptions() throws {
        let command = try #require(try Retrieve.parseAsRoot(["features", "x.wav", "--mels", "64"]) as? Features)
        #expect(command.file == "x.wav" && command.mels == 64 && command.mfcc == nil && command.out == nil)
        let mfcc = try #require(
            try Retrieve.parseAsRoot(["features", "y.flac", "--mfcc", "13", "--out", "y.npy"]) as? Features)
        #expect(mfcc.mfcc == 13 && mfcc.out == "y.npy" && mfcc.mels == 128)
    }

    @Test func rejectsImpossibleOptions() {
        #expect(throws: (any Error).self) { try Retrieve.parseAsRoot(["features", "x.wav", "--mels", "0"]) }
        #expect(throws: (any Error).self) {
            try Retrieve.parseAsRoot(["features", "x.wav", "--mels", "32", "--mfcc", "40"])
        }
    }

    @Test func writesTheMatrixAsNpy() throws {
        let dir = try TemporaryDirectory()
        let wav = dir.path("tone.wav")
        try AudioFileWriter.write(Signals.sine(frequency: 440, seconds: 1, sampleRate: 44_100), sampleRate: 44_100,
                                  format: .wav16, to: wav)
        for (arguments, columns) in [(["--mels", "64"], 64), (["--mfcc", "13"], 13)] {
            let out = dir.path("out-\(columns).npy")
            let command = try #require(
                try Retrieve.parseAsRoot(["features", wav.path] + arguments + ["--out", out.path]) as? Features)
            try command.run()
            let array = try NumPyArray(contentsOf: out)
            #expect(array.shape == [1 + 22_050 / 512, columns])
            #expect(array.values.allSatisfy { $0.isFinite })
        }
    }
}
