import Foundation
import PostgresIndex
import RetrieveCore
import Testing
import TestSupport
import VectorIndex

/// `retrieve migrate` as a user runs it: the built binary against the suite's PostgreSQL.
@Suite(.enabled(if: PostgresServer.testsEnabled, Comment(rawValue: PostgresServer.skipReason)), .withPostgres)
struct MigrateCommandTests {
    struct Run {
        var exit: ChildExit
        var stdout: String
        var stderr: String
    }

    /// Runs the built `retrieve`; its state folder (an index run's crash journals) is the run's own scratch folder,
    /// never the user's.
    static func retrieve(_ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        let scratch = try Scratch()
        let output = URL(fileURLWithPath: scratch.path("run"))
        let child = try Child(
            try RetrieveBinary.require(), arguments, output: output,
            environment: ["XDG_STATE_HOME": scratch.path("state")].merging(environment) { $1 })
        let exit = child.wait()
        return Run(exit: exit, stdout: child.standardOutput, stderr: child.standardError)
    }

    /// The checksum lines of a summary (the part that must agree between two copies of one index).
    static func checksums(_ stdout: String) -> [Substring] {
        stdout.split(separator: "\n").filter { $0.contains("embeddings ") || $0.contains("tracks ") && $0.contains("models ") }
    }

    @Test func copiesSQLiteToPostgresAndBackAndReportsTheChecksums() throws {
        let scratch = try Scratch()
        let server = try WithPostgres.require()
        let url = try server.createDatabase()
        let original = scratch.path("original.sqlite")
        _ = try GeneratedIndex.write(to: original, tracks: 300)
        let there = try Self.retrieve(["migrate", original, url, "--batch-rows", "64"])
        #expect(there.exit.status == 0, "\(there.stderr)")
        #expect(there.stdout.contains("copied    300 tracks, 2 models"))
        #expect(there.stdout.contains("verified"))
        #expect(!there.stdout.contains(server.password), "the password must not be printed")
        #expect(there.stderr.isEmpty, "piped: no progress bar")

        let back = scratch.path("back.sqlite")
        let again = try Self.retrieve(["migrate", url, back, "--quiet"])
        #expect(again.exit.status == 0, "\(again.stderr)")
        #expect(Self.checksums(again.stdout) == Self.checksums(there.stdout))
        #expect(Self.checksums(there.stdout).count == 2)

        let a = try IndexStore.openForReading(path: original)
        let b = try IndexStore.openForReading(path: back)
        #expect(try a.storedEmbeddings(after: .start, limit: 10_000) == b.storedEmbeddings(after: .start, limit: 10_000))
        #expect(try a.storedTracks(after: .min, limit: 10_000) == b.storedTracks(after: .min, limit: 10_000))

        // `stats` reads the PostgreSQL index as it reads the file: the same counts, hours and models.
        let statsThere = try Self.retrieve(["stats", "--db", url])
        let statsHere = try Self.retrieve(["stats"], environment: ["RETRIEVE_DB": original])
        #expect(statsThere.exit.status == 0, "\(statsThere.stderr)")
        let body = { (text: String) in text.split(separator: "\n").dropFirst() }
        #expect(body(statsThere.stdout) == body(statsHere.stdout))
        #expect(body(statsThere.stdout).contains("model     large (bbbbbbbbbbbb, 16-d): 200 embedding(s)"))
        #expect(statsThere.stdout.hasPrefix("index     postgresql://retrieve:***@127.0.0.1:"))
        // `index` itself runs on PostgreSQL: a root that cannot be read is named, as on SQLite.
        let index = try Self.retrieve(["index", scratch.path("nothing")], environment: ["RETRIEVE_DB": url])
        #expect(index.exit.status == 1)
        #expect(index.stderr.contains("nothing: cannot be read"))
        #expect(!index.stderr.contains(server.password))

        // A second copy onto the filled database is refused, and --replace does it.
        let refused = try Self.retrieve(["migrate", original, url])
        #expect(refused.exit.status == 1)
        #expect(refused.stderr.contains("already holds an index (300 tracks"))
        #expect(refused.stderr.contains("pass --replace"))
        let replaced = try Self.retrieve(["migrate", original, url, "--replace", "--json"])
        #expect(replaced.exit.status == 0, "\(replaced.stderr)")
        #expect(replaced.stdout.contains(#""replaced":"#))
    }

    @Test func anUnreachableOrDamagedDestinationIsNamedWithTheRemedy() throws {
        let scratch = try Scratch()
        let original = scratch.path("original.sqlite")
        _ = try GeneratedIndex.write(to: original, tracks: 5)
        let port = try LoopbackPort.free()
        let unreachable = try Self.retrieve(["migrate", original, "postgresql://retrieve:s3cret@127.0.0.1:\(port)/x"])
        #expect(unreachable.exit.status == 1)
        #expect(unreachable.stderr.contains("cannot reach PostgreSQL at postgresql://retrieve:***@127.0.0.1:\(port)/x"))
        #expect(!unreachable.stderr.contains("s3cret"))

        let damaged = scratch.path("damaged.sqlite")
        try Data(repeating: 0x5A, count: 4096).write(to: URL(fileURLWithPath: damaged))
        let refused = try Self.retrieve(["migrate", original, damaged])
        #expect(refused.exit.status == 1)
        #expect(refused.stderr.contains("\(damaged) is not an SQLite database; left it untouched"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: damaged)) == Data(repeating: 0x5A, count: 4096))

        let server = try WithPostgres.require()
        let wrong = try Self.retrieve(["migrate", original, server.url(password: "guess")])
        #expect(wrong.exit.status == 1)
        #expect(wrong.stderr.contains("refused the login"))
    }
}
