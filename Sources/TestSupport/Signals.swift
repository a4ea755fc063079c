import Foundation

/// Test signal generators: sine, chirp, noise, clicks, silence. All return mono Float samples.
public enum Signals {
    public static func sine(frequency: Double, seconds: Double, sampleRate: Int, amplitude: Float = 0.5) -> [Float] {
        let n = Int(seconds * Double(sampleRate))
        return (0..<n).map { amplitude * Float(sin(2 * .pi * frequency * Double($0) / Double(sampleRate))) }
    }
    /// A linear chirp from `from` to `to` Hz.
    public static func chirp(
        from f0: Double, to f1: Double, seconds: Double, sampleRate: Int, amplitude: Float = 0.5
    )
        -> [Float]
    {
        let n = Int(seconds * Double(sampleRate))
        let k = (f1 - f0) / seconds
        return (0..<n).map {
            let t = Double($0) / Double(sampleRate)
            return amplitude * Float(sin(2 * .pi * (f0 * t + 0.5 * k * t * t)))
        }
    }
    public static func whiteNoise(seconds: Double, sampleRate: Int, amplitude: Float = 0.3, seed: UInt64 = 1) -> [Float]
    {
        var rng = SeededGenerator(seed: seed)
        return (0..<Int(seconds * Double(sampleRate))).map { _ in Float.random(in: -amplitude...amplitude, using: &rng)
        }
    }
    /// Unit impulses every `interval` seconds.
    public static func clicks(
        every interval: Double, seconds: Double, sampleRate: Int, amplitude: Float = 0.9
    ) -> [Float] {
        var x = [Float](repeating: 0, count: Int(seconds * Double(sampleRate)))
        let step = max(1, Int(interval * Double(sampleRate)))
        for i in stride(from: 0, to: x.count, by: step) { x[i] = amplitude }
        return x
    }
    public static func silence(seconds: Double, sampleRate: Int) -> [Float] {
        [Float](repeating: 0, count: Int(seconds * Double(sampleRate)))
    }
    /// A sum of sines (a chord).
    public static func chord(
        _ frequencies: [Double], seconds: Double, sampleRate: Int, amplitude: Float = 0.2
    ) -> [Float] {
        var x = [Float](repeating: 0, count: Int(seconds * Double(sampleRate)))
        for f in frequencies {
            let s = sine(frequency: f, seconds: seconds, sampleRate: sampleRate, amplitude: amplitude)
            for i in 0..<x.count { x[i] += s[i] }
        }
        return x
    }
}

extension Signals {
    /// A canonical 44-byte PCM WAV header.
    public static func wavHeader(
        sampleRate: Int, channels: Int, bitsPerSample: Int, format: UInt16 = 1, dataBytes: UInt32
    ) -> [UInt8] {
        var h: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { h.append(contentsOf: $0) } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { h.append(contentsOf: $0) } }
        h.append(contentsOf: Array("RIFF".utf8))
        u32(dataBytes &+ 36)
        h.append(contentsOf: Array("WAVEfmt ".utf8))
        u32(16)
        u16(format)
        u16(UInt16(channels))
        u32(UInt32(sampleRate))
        u32(UInt32(sampleRate * channels * bitsPerSample / 8))
        u16(UInt16(channels * bitsPerSample / 8))
        u16(UInt16(bitsPerSample))
        h.append(contentsOf: Array("data".utf8))
        u32(dataBytes)
        return h
    }

    /// `samples` (mono, clipped to [-1, 1]) as a 16-bit PCM WAV file's bytes.
    public static func wav16(_ samples: [Float], sampleRate: Int) -> [UInt8] {
        var bytes = wavHeader(
            sampleRate: sampleRate, channels: 1, bitsPerSample: 16, dataBytes: UInt32(samples.count * 2))
        for sample in samples {
            let value = Int16((max(-1, min(1, sample)) * 32_767).rounded())
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes
    }
}
