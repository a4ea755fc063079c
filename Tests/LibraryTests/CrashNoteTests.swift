import Foundation
@testable import Library
import Testing
import TestSupport
#if canImport(Glibc)
    import Glibc
#endif

@Suite struct CrashNoteTests {
    /// A journal's records: signal, tab, path (tabs and newlines allowed), NUL; the record a dying process did not
    /// finish is left out, as is one whose signal is not a number.
    @Test func recordsAreReadUpToTheLastWholeOne() {
        let bytes = Array("11\t/music/a b.flac\u{0}7\t/music/new\nline\twith tab.mp3\u{0}x\t/bad\u{0}6\t/music/tor".utf8)
        #expect(CrashNote.records(Data(bytes)) == [
            CrashNote.Crash(path: "/music/a b.flac", signal: 11),
            CrashNote.Crash(path: "/music/new\nline\twith tab.mp3", signal: 7),
        ])
        #expect(CrashNote.records(Data()) == [])
        #expect(CrashNote.Crash(path: "/x", signal: SIGBUS).reason.hasPrefix("the analysis crashed on this file (signal 7, SIGBUS)"))
    }

    /// Journals are collected only from processes that have ended: this process's own and a live one's stay
    /// untouched; an ended one's (here a pid no process can have) is read and offered for removal.
    @Test func onlyEndedProcessesJournalsAreCollected() throws {
        let folder = try TemporaryDirectory(prefix: "retrieve-crash-note")
        let prefix = folder.path("index.sqlite-crashes").path
        let ended = Int32.max - 1  // above pid_max: never a live process
        try Data("11\t/music/x.flac\u{0}".utf8).write(to: URL(fileURLWithPath: "\(prefix)-\(ended)"))
        try Data("11\t/music/own.flac\u{0}".utf8).write(to: URL(fileURLWithPath: "\(prefix)-\(getpid())"))
        try Data("11\t/music/live.flac\u{0}".utf8).write(to: URL(fileURLWithPath: "\(prefix)-1"))  // init lives
        try Data().write(to: URL(fileURLWithPath: "\(prefix)-other"))
        let (crashes, journals) = CrashNote.collect(prefix: prefix)
        #expect(crashes == [CrashNote.Crash(path: "/music/x.flac", signal: 11)])
        #expect(journals == [CrashNote.Journal(path: "\(prefix)-\(ended)", pid: ended)])
    }
}
