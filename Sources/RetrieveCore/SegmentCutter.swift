/// Cuts a stream of frames (matrix rows) into windows of `length` frames every `hop` frames: the one
/// sliding-window function of retrieve, so the index, queries and evaluation see the same segments.
///
/// Windows start at frame 0, hop, 2·hop, … while they fit. When the stream ends, a last window ending exactly
/// at the last frame is added if the regular ones did not end there, so the end of a track is always heard;
/// a stream shorter than one window gives that one shorter window; an empty stream gives none. For n ≥ length
/// frames that is ⌊(n − length) / hop⌋ + 1 windows, plus one when hop does not divide n − length.
///
/// Frames may arrive in blocks of any size (`push`); at most `length + hop` frames are held back.
/// - Complexity: O(frames pushed · columns) copying, plus O(length · columns) per window made.
public struct SegmentCutter: Sendable {
    /// Frames per window (≥ 1).
    public let length: Int
    /// Frames from one window's start to the next (≥ 1; may exceed `length`, which skips frames).
    public let hop: Int
    private var pending: Matrix
    private var pendingStart = 0  // stream index of pending's first row
    private var nextStart = 0  // stream index of the next regular window's first row
    private var lastEnd = 0  // stream index one past the last window made, 0 before the first
    private var made = 0

    public init(length: Int, hop: Int, columns: Int) {
        precondition(length >= 1 && hop >= 1, "windows need length ≥ 1 and hop ≥ 1, got \(length) and \(hop)")
        self.length = length
        self.hop = hop
        pending = Matrix(rows: 0, columns: columns)
    }

    /// Takes the next frames of the stream; returns the windows that became complete, in order.
    public mutating func push(_ frames: Matrix) -> [Matrix] {
        precondition(
            frames.columns == pending.columns, "frames have \(frames.columns) columns, expected \(pending.columns)")
        guard frames.rows > 0 else { return [] }
        pending = Matrix(
            rows: pending.rows + frames.rows, columns: pending.columns,
            storage: pending.storage + frames.storage)
        var out: [Matrix] = []
        while nextStart + length <= pendingStart + pending.rows {
            let from = nextStart - pendingStart
            out.append(pending.rows(from..<(from + length)))
            lastEnd = nextStart + length
            nextStart += hop
            made += 1
        }
        // Keep what the next regular window or the closing one can still need: from `nextStart`, and always the
        // last `length` frames.
        let end = pendingStart + pending.rows
        let keepFrom = min(nextStart, max(0, end - length))
        let drop = min(pending.rows, max(0, keepFrom - pendingStart))
        if drop > 0 {
            pending = pending.rows(drop..<pending.rows)
            pendingStart += drop
        }
        return out
    }

    /// Ends the stream: the closing window (ending at the last frame) when the regular ones missed the end,
    /// or the one short window of a stream shorter than `length`.
    public mutating func finish() -> [Matrix] {
        let end = pendingStart + pending.rows
        guard end > 0 else { return [] }
        if made == 0 {
            made = 1
            lastEnd = end
            return [pending.rows(max(0, pending.rows - length)..<pending.rows)]
        }
        guard lastEnd != end, end >= length else { return [] }
        made += 1
        lastEnd = end
        let from = end - length - pendingStart
        return [pending.rows(from..<(from + length))]
    }

    /// All windows of a whole matrix: `push` then `finish`.
    public static func windows(of frames: Matrix, length: Int, hop: Int) -> [Matrix] {
        var cutter = SegmentCutter(length: length, hop: hop, columns: frames.columns)
        return cutter.push(frames) + cutter.finish()
    }
}
