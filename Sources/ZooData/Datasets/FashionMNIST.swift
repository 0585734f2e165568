import Foundation

/// Fashion-MNIST (Xiao et al. 2017): 60,000 training and 10,000 test grayscale 28×28 images of
/// clothing in 10 classes, read from the Debian package `dataset-fashion-mnist`.
public enum FashionMNIST {
    /// Where Debian's package installs the files.
    public static let debianFolder = "/usr/share/datasets/fashion-mnist"

    /// The folders searched, in order: `directory`, then `$ZOO_DATA` (the folder itself or its
    /// `fashion-mnist` subfolder), then Debian's folder.
    public static func candidates(directory: URL?, environment: [String: String]) -> [URL] {
        var out: [URL] = []
        if let d = directory { out.append(d) }
        if let z = environment["ZOO_DATA"], !z.isEmpty {
            out.append(URL(fileURLWithPath: z))
            out.append(URL(fileURLWithPath: z).appendingPathComponent("fashion-mnist"))
        }
        out.append(URL(fileURLWithPath: debianFolder))
        return out
    }

    /// Loads the training and test sets, `[N, 1, 28, 28]` in [0, 1].
    /// - Throws: ``DataFileError`` naming every folder searched and how to install the data.
    public static func load(directory: URL? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DataSplits {
        let places = candidates(directory: directory, environment: environment)
        for folder in places {
            let marker = ["train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"].map { folder.appendingPathComponent($0).path }
            if marker.contains(where: FileManager.default.fileExists(atPath:)) { return try IDX.loadFolder(folder) }
            if directory != nil && folder == directory {
                throw DataFileError(file: folder.path, problem: "no Fashion-MNIST files here (train-images-idx3-ubyte[.gz] and the other three)")
            }
        }
        throw DataFileError(file: "fashion-mnist",
                            problem: "not found in \(places.map(\.path).joined(separator: ", ")); install it with `sudo apt-get install dataset-fashion-mnist`, or pass --data-dir DIR (or set ZOO_DATA) to a folder holding the four IDX files")
    }
}
