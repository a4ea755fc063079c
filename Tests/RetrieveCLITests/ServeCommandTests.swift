import ArgumentParser
import Foundation
import Testing
@testable import retrieve

/// `retrieve serve`'s options: loopback and port 8390 by default; a token is required off loopback.
@Suite struct ServeCommandTests {
    @Test func defaultsAreLoopbackAndPort8390() throws {
        let c = try #require(try Retrieve.parseAsRoot(["serve"]) as? ServeCommand)
        #expect(c.host == "127.0.0.1" && c.port == 8390 && c.token == nil && c.tokenFile == nil && c.maxUploadMb == 50)
    }

    @Test func anotherHostWithATokenParses() throws {
        let c = try #require(
            try Retrieve.parseAsRoot(
                [
                    "serve", "--host", "0.0.0.0", "--port", "9000", "--token-file", "/etc/retrieve.token", "--db",
                    "x.sqlite",
                ])
                as? ServeCommand)
        #expect(
            c.host == "0.0.0.0" && c.port == 9000 && c.tokenFile == "/etc/retrieve.token" && c.location.db == "x.sqlite"
        )
        _ = try #require(try Retrieve.parseAsRoot(["serve", "--host", "::1"]) as? ServeCommand)
        _ = try #require(try Retrieve.parseAsRoot(["serve", "--host", "127.0.0.2"]) as? ServeCommand)
    }

    @Test(arguments: [
        ["serve", "--host", "0.0.0.0"], ["serve", "--host", "192.168.1.2"], ["serve", "--host", "example.org"],
        ["serve", "--port", "70000"], ["serve", "--port", "-1"], ["serve", "--token", "abcdefgh", "--token-file", "t"],
        ["serve", "--max-upload-mb", "0"],
    ])
    func badCombinationsAreRejected(arguments: [String]) {
        #expect(throws: (any Error).self) { try Retrieve.parseAsRoot(arguments) }
    }

    @Test func theTokenFileGivesItsFirstLine() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("  s3cret-value \nignored\n".utf8).write(to: file)
        #expect(try ServeCommand.readToken(file.path) == "s3cret-value")
        try Data("\n".utf8).write(to: file)
        #expect(throws: CLIError.self) { try ServeCommand.readToken(file.path) }
    }
}
