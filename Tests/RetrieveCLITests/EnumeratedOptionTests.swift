import ArgumentParser
import Testing
@testable import retrieve

/// Options that take one of a fixed set of words are parsed as enums: a wrong word is refused by the parser with
/// the list of choices, and the help shows them.
@Suite struct EnumeratedOptionTests {
    @Test(arguments: [
        (["similar", "q", "--format"], "table"), (["export", "--out", "o", "--format"], "jsonl"),
        (["train", "d", "--pooling"], "attention"), (["train", "d", "--mining"], "semiHard"),
        (["map", "--out", "m.svg", "--color-by"], "folder"), (["evaluate", "d", "--split"], "test"),
        (["evaluate", "d", "--degradations"], "mp3-128k"),
    ])
    func aWrongWordIsRefusedWithTheChoices(arguments: [String], valid: String) {
        #expect(throws: Never.self) { try Retrieve.parseAsRoot(arguments + [valid]) }
        do {
            _ = try Retrieve.parseAsRoot(arguments + ["bogus"])
            Issue.record("\(arguments) bogus was accepted")
        } catch {
            let message = Retrieve.message(for: error)
            #expect(message.contains("bogus") && message.contains(valid), "\(message)")
        }
    }

    @Test func degradationListsParseCommaSeparatedNames() throws {
        let c = try #require(try Retrieve.parseAsRoot(
            ["evaluate", "d", "--degradations", "clean, mp3-128k", "--leave-labels-out", "3", "--invariance", "none"])
            as? EvaluateCommand)
        #expect(try c.degradationList() == [.clean, .mp3] && c.invarianceList() == [])
        #expect(throws: (any Error).self) { try Retrieve.parseAsRoot(["evaluate", "d", "--degradations", "clean,,mp3-128k"]) }
        #expect(throws: (any Error).self) { try Retrieve.parseAsRoot(["evaluate", "d", "--degradations", "none"]) }
    }
}
