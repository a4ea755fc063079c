import ArgumentParser
import Testing
@testable import retrieve

/// The parser on argument arrays: every command's options land where they should, and bad combinations are
/// rejected before any work starts.
@Suite struct CommandParsingTests {
    @Test func indexParsesRootsAndOptions() throws {
        let c = try #require(try Retrieve.parseAsRoot(
            ["index", "a", "b", "--db", "x.sqlite", "--prune", "--dry-run", "--jobs", "1", "--batch-size", "4"])
            as? IndexCommand)
        #expect(c.roots == ["a", "b"])
        #expect(c.location.db == "x.sqlite" && c.prune && c.dryRun && c.jobs == 1 && c.batchSize == 4)
    }

    @Test func indexRejectsZeroJobs() {
        #expect(throws: (any Error).self) { try Retrieve.parseAsRoot(["index", "a", "--jobs", "0"]) }
    }

    @Test func similarParsesSeedsFiltersAndFormat() throws {
        let c = try #require(try Retrieve.parseAsRoot(
            ["similar", "q.wav", "12", "--k", "5", "--exclude-same-artist", "--under", "/music/jazz", "--dedupe",
             "--json"]) as? SimilarCommand)
        #expect(c.queries == ["q.wav", "12"])
        #expect(c.k == 5 && c.excludeSameArtist && !c.excludeSameAlbum && c.dedupe)
        #expect(c.under == ["/music/jazz"])
        #expect(c.outputFormat == .json)
    }

    @Test(arguments: [["similar", "q.wav", "--k", "0"], ["similar", "q.wav", "--json", "--csv"],
                      ["similar", "q.wav", "--dedupe-threshold", "1.5"], ["similar"]])
    func similarRejectsBadArguments(arguments: [String]) {
        #expect(throws: (any Error).self) { try Retrieve.parseAsRoot(arguments) }
    }

    @Test func exportValidatesFormatAndOutput() throws {
        let c = try #require(try Retrieve.parseAsRoot(["export", "--k", "3", "--format", "jsonl", "--out", "-"])
            as? ExportCommand)
        #expect(c.recommendationFormat == .jsonl && c.k == 3)
        #expect(throws: (any Error).self) { try Retrieve.parseAsRoot(["export", "--format", "xml", "--out", "x"]) }
        #expect(throws: (any Error).self) { try Retrieve.parseAsRoot(["export", "--format", "m3u", "--out", "-"]) }
    }

    @Test func trainBuildsTheRecipe() throws {
        let c = try #require(try Retrieve.parseAsRoot(
            ["train", "data", "--epochs", "5", "--hidden", "64", "--bidirectional", "--pooling", "attention",
             "--mining", "semiHard", "--seed", "7", "--no-augment"]) as? TrainCommand)
        let r = c.recipe
        #expect(r.epochs == 5 && r.hiddenSize == 64 && r.bidirectional && r.pooling == .attention)
        #expect(r.mining == .semiHard && r.seed == 7 && !r.augment)
        #expect(throws: (any Error).self) { try Retrieve.parseAsRoot(["train"]) }
    }

    @Test func similarHelpNamesEveryOption() {
        let help = Retrieve.helpMessage(for: SimilarCommand.self)
        for option in ["--k", "--exclude-same-artist", "--exclude-same-album", "--under", "--dedupe", "--json",
                       "--csv", "--m3u", "--db", "--model"] {
            #expect(help.contains(option), "help lacks \(option)")
        }
    }
}
