import ArgumentParser
import Foundation
import ZooReport

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write an HTML report of a store: learning curves, metrics by key, the gap, measures, parallel coordinates.",
        discussion: """
            Writes OUT/index.html: one self-contained file (inline SVG and CSS, no script, no \
            network) that any browser opens. Each plot stands beside the table of the numbers it \
            draws and the command that reproduces it.

            Example: zoo report --store runs/zoo.sqlite --out report --by optimizer
            """)
    @OptionGroup var storeOption: StoreOption
    @Option(help: ArgumentHelp("The folder to write index.html into (created if missing).", valueName: "dir")) var out: String
    @Option(name: .customLong("where"), help: ArgumentHelp("Only runs whose config key has this value (repeatable).", valueName: "key=value"))
    var filters: [String] = []
    @Option(help: ArgumentHelp("Group the learning curves by this config key, and colour the measure plots by the first (repeatable; default: the varied keys but seed).",
                               valueName: "key"))
    var by: [String] = []
    @Option(help: ArgumentHelp("Plot this measure against the gap (repeatable; default: the \(ReportOptions.maxMeasurePlots) with the largest |Kendall τ|).",
                               valueName: "name"))
    var measure: [String] = []

    func run() throws {
        let options = ReportOptions(storePath: storeOption.name, conditions: try conditions(filters), by: by, outPath: out, measures: measure)
        let report: HTMLReport
        do { report = try HTMLReport.make(store: try storeOption.open(reading: true), options: options) } catch let e as ReportError {
            throw ValidationError(e.description)
        }
        let folder = URL(fileURLWithPath: out)
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), !isFolder.boolValue {
            throw RuntimeError("--out \(out): a file is there, not a folder; help: name a folder for index.html")
        }
        let page = folder.appendingPathComponent("index.html")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(report.html().utf8).write(to: page, options: .atomic)
        } catch {
            throw RuntimeError("--out \(out): cannot write \(page.path): \(error.localizedDescription)")
        }
        print("wrote \(page.path)")
    }
}
