public import RetrieveCore

/// The segment level normalisation of `EncoderConfiguration.levelRange`: one implementation, used by the
/// forward pass (inference and training) and by the band statistics a model is trained with.
public enum LevelNormalisation {
    /// The clamp floor `max(x) − range` of a segment's log-mel values and the mean of the clamped values.
    ///
    /// Accumulates the mean in Double, so a segment of 130 × 128 values loses no precision; an empty
    /// segment gives floor −∞ and mean 0 (no change).
    /// - Complexity: O(n), two passes.
    public static func floorAndMean(_ values: UnsafeBufferPointer<Float>, range: Float) -> (floor: Float, mean: Float) {
        guard !values.isEmpty else { return (-.infinity, 0) }
        var top = -Float.infinity
        for v in values { top = max(top, v) }
        let floor = top - range
        var sum = 0.0
        for v in values { sum += Double(max(v, floor)) }
        return (floor, Float(sum / Double(values.count)))
    }

    /// `segment` level-normalised: clamped at `max − range`, then shifted to mean 0.
    public static func apply(_ segment: Matrix, range: Float) -> Matrix {
        var out = segment
        let (floor, mean) = segment.storage.withUnsafeBufferPointer { floorAndMean($0, range: range) }
        for i in out.storage.indices { out.storage[i] = max(out.storage[i], floor) - mean }
        return out
    }
}
