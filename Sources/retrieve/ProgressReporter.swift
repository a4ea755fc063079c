import Foundation
import RetrieveCore

/// Reports progress of long work: a redrawn bar on a terminal, plain occasional lines when output is piped.
///
/// Progress goes to standard error so that standard output stays clean and parseable (`retrieve export` to a
/// pipe, `--json` results). On a terminal the bar shows files done, rate and time left; when piped it prints a
/// plain line at most every `pipedInterval` seconds, or not at all when `quiet`.
final class ProgressReporter: ProgressSink, @unchecked Sendable {
    enum Mode: Sendable { case terminal, plain, quiet }

    /// Makes one reporter per stage: quiet with `--quiet`, else a bar on a terminal and lines when piped.
    static func factory(quiet: Bool) -> ProgressFactory {
        { total, label in ProgressReporter(total: total, label: label, mode: quiet ? .quiet : nil) }
    }

    private let lock = NSLock()
    private let total: Int
    private let label: String
    private let mode: Mode
    private let started = Date()
    private var lastDraw = Date.distantPast
    private var done = 0
    private var detail = ""
    private let output: FileHandle
    private let pipedInterval: TimeInterval

    init(total: Int, label: String, mode: Mode? = nil, output: FileHandle = .standardError,
                pipedInterval: TimeInterval = 10) {
        self.total = total
        self.label = label
        self.output = output
        self.pipedInterval = pipedInterval
        self.mode = mode ?? (isatty(output.fileDescriptor) != 0 ? .terminal : .plain)
    }

    /// Records `count` more items done; `detail` is shown beside the bar (e.g. the current file name).
    func advance(by count: Int, detail: String) {
        lock.lock()
        defer { lock.unlock() }
        done += count
        self.detail = detail.escapingControlCharacters
        let now = Date()
        switch mode {
        case .quiet: return
        case .terminal:
            guard now.timeIntervalSince(lastDraw) >= 0.1 || done == total else { return }
            lastDraw = now
            write("\r\u{1B}[2K" + line(now: now, width: 28))
        case .plain:
            guard now.timeIntervalSince(lastDraw) >= pipedInterval else { return }
            lastDraw = now
            write(line(now: now, width: 0) + "\n")
        }
    }

    /// Ends the bar (clears the terminal line) so that the summary starts on a clean line.
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if mode == .terminal { write("\r\u{1B}[2K") }
    }

    /// Prints a message above the bar without garbling it.
    func message(_ raw: String) {
        let text = raw.escapingControlCharacters  // one line, whatever a file name holds
        lock.lock()
        defer { lock.unlock() }
        switch mode {
        case .terminal:
            write("\r\u{1B}[2K" + text + "\n")
            lastDraw = .distantPast
        case .plain, .quiet: write(text + "\n")
        }
    }

    private func line(now: Date, width: Int) -> String {
        let elapsed = now.timeIntervalSince(started)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let remaining = rate > 0 ? Double(total - done) / rate : .nan
        var bar = ""
        if width > 0 {
            let filled = total > 0 ? Int(Double(width) * Double(done) / Double(total)) : width
            bar = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: max(0, width - filled)) + "] "
        }
        let name = detail.count > 40 ? "…" + detail.suffix(39) : detail
        return "\(label) \(bar)\(done)/\(total)  \(String(format: "%.1f", rate))/s  left \(Output.elapsed(remaining))  \(name)"
    }

    private func write(_ text: String) { output.write(Data(text.utf8)) }
}
