import Synchronization

/// Where long work says how far it has got and what it skipped: the command-line tool draws a bar on a
/// terminal and plain lines when piped; a library caller may pass `SilentProgress`.
///
/// Conforming types are called from several threads at once and must serialise their own output.
public protocol ProgressSink: AnyObject, Sendable {
    /// `count` more items are done; `detail` names the current one (a file name, a loss).
    func advance(by count: Int, detail: String)
    /// A message for the user (a skipped file and why), shown without garbling the bar.
    func message(_ text: String)
    /// The stage has ended: a bar is cleared so that what follows starts on a clean line.
    func finish()
}

extension ProgressSink {
    public func advance(detail: String = "") { advance(by: 1, detail: detail) }
}

/// Makes the sink of one stage of long work: `total` items, named `label` ("indexing", "epoch 3").
public typealias ProgressFactory = @Sendable (_ total: Int, _ label: String) -> any ProgressSink

/// A sink that shows nothing: for tests and callers that report by other means.
public final class SilentProgress: ProgressSink {
    public init() {}
    public func advance(by count: Int, detail: String) {}
    public func message(_ text: String) {}
    public func finish() {}
    /// A factory of silent sinks.
    public static let factory: ProgressFactory = { _, _ in SilentProgress() }
}

/// A request to stop long work cleanly after the item in flight (Ctrl-C in the command-line tool, or a caller).
///
/// Raising is one-way and visible to every thread at once; the work polls `isRaised` between items.
public final class StopRequest: Sendable {
    private let raised = Atomic<Bool>(false)
    public init() {}
    /// Whether a stop was requested.
    public var isRaised: Bool { raised.load(ordering: .acquiring) }
    /// Asks the work to stop; returns whether this call was the first to ask.
    @discardableResult
    public func raise() -> Bool {
        !raised.exchange(true, ordering: .acquiringAndReleasing)
    }
}
