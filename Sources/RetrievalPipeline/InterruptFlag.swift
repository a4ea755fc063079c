import Foundation

/// A flag raised by SIGINT (Ctrl-C) so long runs can stop cleanly after the batch in flight.
///
/// The first Ctrl-C asks for a clean stop and says so; a second one ends the process at once (the index is
/// still consistent then, because every batch is one transaction: only the batch in flight is lost).
public final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false
    private var source: DispatchSourceSignal?

    public init() {}

    /// Whether a stop was requested.
    public var isRaised: Bool {
        lock.lock()
        defer { lock.unlock() }
        return raised
    }

    /// Raises the flag by hand (tests, or a caller that wants to stop the run).
    public func raise() {
        lock.lock()
        raised = true
        lock.unlock()
    }

    /// Starts catching SIGINT; `onFirst` runs once, on the first Ctrl-C.
    public func catchInterrupts(onFirst: @escaping @Sendable () -> Void) {
        signal(SIGINT, SIG_IGN)
        // Its own serial queue, not `.global()`: the indexer's workers occupy the global pool's threads (one per
        // core) for the whole run, and a handler queued behind them ran only when the run had finished, so
        // Ctrl-C stopped nothing. A serial queue gets an overcommitted thread of its own.
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: DispatchQueue(label: "retrieve.interrupt"))
        source.setEventHandler { [weak self] in
            guard let self else { return }
            if self.isRaised {
                FileHandle.standardError.write(Data("\nretrieve: interrupted again, stopping now\n".utf8))
                exit(130)
            }
            self.raise()
            onFirst()
        }
        source.resume()
        self.source = source
    }
}
