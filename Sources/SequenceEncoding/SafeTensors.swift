import Foundation

/// What is wrong with a model or checkpoint file, and what to do about it.
///
/// Every case names the file; `description` is one line meant for the terminal.
public enum ModelFileError: Error, CustomStringConvertible, Equatable {
    /// The file does not exist or cannot be read.
    case unreadable(path: String, reason: String)
    /// The bytes are not a safetensors file (bad header length or header JSON).
    case notSafetensors(path: String, reason: String)
    /// The file ends before the tensor data the header announces.
    case truncated(path: String, expectedBytes: Int, actualBytes: Int)
    /// The metadata lacks the encoder configuration or it cannot be decoded.
    case badMetadata(path: String, reason: String)
    /// The file was written by a newer (or unknown) format version.
    case unsupportedFormatVersion(path: String, found: Int, supported: Int)
    /// A tensor the configuration requires is absent.
    case missingTensor(path: String, name: String)
    /// A tensor the configuration does not know is present.
    case unexpectedTensor(path: String, name: String)
    /// A tensor has another shape than the configuration implies.
    case wrongShape(path: String, name: String, expected: [Int], found: [Int])
    /// A tensor is not little-endian float32, or its byte range is inconsistent.
    case badTensor(path: String, name: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "\(path): cannot read model file (\(reason)); check the path, or train one with `retrieve train`"
        case .notSafetensors(let path, let reason):
            return
                "\(path): not a safetensors model file (\(reason)); the file is damaged or of another kind, re-export or re-train it"
        case .truncated(let path, let expected, let actual):
            return "\(path): model file is truncated (\(actual) of \(expected) bytes); copy or download it again"
        case .badMetadata(let path, let reason):
            return "\(path): model metadata is unusable (\(reason)); the file was not written by retrieve, re-train it"
        case .unsupportedFormatVersion(let path, let found, let supported):
            return
                "\(path): model format version \(found) is not supported (this build reads \(supported)); upgrade retrieve or re-train the model"
        case .missingTensor(let path, let name):
            return "\(path): tensor '\(name)' is missing; the file does not match its configuration, re-export it"
        case .unexpectedTensor(let path, let name):
            return "\(path): unexpected tensor '\(name)'; the file does not match its configuration, re-export it"
        case .wrongShape(let path, let name, let expected, let found):
            return
                "\(path): tensor '\(name)' has shape \(found), expected \(expected); the file does not match its configuration, re-export it"
        case .badTensor(let path, let name, let reason):
            return "\(path): tensor '\(name)' is unusable (\(reason)); the file is damaged, copy or re-export it"
        }
    }
}

/// A parsed safetensors file: named little-endian float32 tensors plus string metadata.
///
/// The format is an 8-byte little-endian header length, a JSON header mapping names to
/// `{"dtype", "shape", "data_offsets"}` (offsets relative to the data section) plus an optional
/// `"__metadata__"` object of strings, then the raw tensor bytes. Only `F32` is read or written here.
package struct SafeTensorsFile {
    package struct Tensor {
        package var shape: [Int]
        package var values: [Float]
        package init(shape: [Int], values: [Float]) {
            precondition(
                shape.reduce(1, *) == values.count, "Tensor shape \(shape) does not hold \(values.count) values")
            self.shape = shape
            self.values = values
        }
    }

    package var tensors: [String: Tensor]
    /// Tensor names in file order, so writing is deterministic.
    package var order: [String]
    package var metadata: [String: String]

    package init(tensors: [(String, Tensor)], metadata: [String: String]) {
        self.tensors = Dictionary(uniqueKeysWithValues: tensors)
        self.order = tensors.map(\.0)
        self.metadata = metadata
    }

    /// The file's bytes; the header is padded with spaces to a multiple of 8 bytes as in the reference writer.
    package func serialized() -> [UInt8] {
        var offset = 0
        var entries: [String] = []
        for name in order {
            let t = tensors[name]!
            let bytes = t.values.count * 4
            entries.append(
                "\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}"
            )
            offset += bytes
        }
        let meta = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(
            separator: ",")
        var header = Array(
            ("{\"__metadata__\":{\(meta)}" + (entries.isEmpty ? "" : ",") + entries.joined(separator: ",") + "}").utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + header.count + offset)
        let n = UInt64(header.count)
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: n >> UInt64(8 * i))) }
        out.append(contentsOf: header)
        for name in order {
            tensors[name]!.values.withUnsafeBytes { raw in
                // Little-endian hosts only (x86-64, arm64): the in-memory bytes are the file bytes.
                out.append(contentsOf: raw)
            }
        }
        return out
    }

    /// Parses `bytes`, checking the header and every tensor's dtype, shape and byte range.
    package init(bytes: [UInt8], path: String) throws(ModelFileError) {
        guard bytes.count >= 8 else {
            throw .notSafetensors(path: path, reason: "only \(bytes.count) bytes")
        }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(bytes[i]) << UInt64(8 * i) }
        guard headerLength >= 2, headerLength < 100_000_000 else {
            throw .notSafetensors(path: path, reason: "implausible header length \(headerLength)")
        }
        let dataStart = 8 + Int(headerLength)
        guard dataStart <= bytes.count else {
            throw .truncated(path: path, expectedBytes: dataStart, actualBytes: bytes.count)
        }
        let headerData = Data(bytes[8..<dataStart])
        guard let json = try? JSONSerialization.jsonObject(with: headerData), let header = json as? [String: Any] else {
            throw .notSafetensors(path: path, reason: "header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let meta = header["__metadata__"] {
            guard let m = meta as? [String: Any] else {
                throw .notSafetensors(path: path, reason: "__metadata__ is not an object")
            }
            for (k, v) in m {
                guard let s = v as? String else {
                    throw .notSafetensors(path: path, reason: "metadata '\(k)' is not a string")
                }
                metadata[k] = s
            }
        }
        let dataBytes = bytes.count - dataStart
        var parsed: [(String, Tensor, Int)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any] else {
                throw .badTensor(path: path, name: name, reason: "entry is not an object")
            }
            guard let dtype = entry["dtype"] as? String, dtype == "F32" else {
                throw .badTensor(
                    path: path, name: name,
                    reason: "dtype \(entry["dtype"].map { "\($0)" } ?? "missing"), only F32 is supported")
            }
            guard let shape = Self.integers(entry["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw .badTensor(path: path, name: name, reason: "shape is not a list of non-negative integers")
            }
            guard let offsets = Self.integers(entry["data_offsets"]), offsets.count == 2, offsets[0] >= 0,
                offsets[0] <= offsets[1]
            else { throw .badTensor(path: path, name: name, reason: "data_offsets is not [begin, end]") }
            // A hostile shape can overflow Int; such a tensor cannot fit in any file, so say so instead of trapping.
            var count = 1, overflow = false
            for n in shape where !overflow { (count, overflow) = count.multipliedReportingOverflow(by: n) }
            guard !overflow, count <= (Int.max - 8) / 4 else {
                throw .badTensor(path: path, name: name, reason: "shape \(shape) has too many elements")
            }
            guard offsets[1] - offsets[0] == count * 4 else {
                throw .badTensor(
                    path: path, name: name, reason: "\(offsets[1] - offsets[0]) bytes for \(count) float32 values")
            }
            guard offsets[1] <= dataBytes else {
                let expected = offsets[1].addingReportingOverflow(dataStart)
                throw .truncated(
                    path: path, expectedBytes: expected.overflow ? Int.max : expected.partialValue,
                    actualBytes: bytes.count)
            }
            var values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBytes { dst in
                bytes.withUnsafeBytes { src in
                    dst.copyMemory(
                        from: UnsafeRawBufferPointer(rebasing: src[(dataStart + offsets[0])..<(dataStart + offsets[1])])
                    )
                }
            }
            parsed.append((name, Tensor(shape: shape, values: values), offsets[0]))
        }
        parsed.sort { $0.2 < $1.2 }
        self.init(tensors: parsed.map { ($0.0, $0.1) }, metadata: metadata)
    }

    private static func integers(_ value: Any?) -> [Int]? {
        guard let list = value as? [Any] else { return nil }
        var out: [Int] = []
        for v in list {
            if let i = v as? Int {
                out.append(i)
            } else if let n = v as? NSNumber {
                out.append(n.intValue)
            } else {
                return nil
            }
        }
        return out
    }

    private func jsonString(_ s: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [s], options: [.fragmentsAllowed])
        let text = String(decoding: data, as: UTF8.self)
        return String(text.dropFirst().dropLast())
    }
}
