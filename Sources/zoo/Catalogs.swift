import ArgumentParser
import ZooData
import ZooNN

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the catalog models and their options (pass them with --model-option key=value).")

    func run() {
        for entry in ModelCatalog.entries {
            print("\(entry.name)\n    \(entry.summary)")
            for o in entry.options {
                print("    \(o.name)=\(o.defaultValue.isEmpty ? "\"\"" : o.defaultValue)".padding(toLength: 36, withPad: " ", startingAt: 0) + o.summary)
            }
            print()
        }
    }
}

struct Datasets: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the data sets and their options (pass them with --data-option key=value).")

    func run() {
        for entry in DatasetCatalog.entries {
            print("\(entry.name)\n    \(entry.summary)")
            for o in entry.options { print(Self.line(o)) }
            print()
        }
        print("options of every data set (applied in this order):")
        for o in DatasetCatalog.commonOptions { print(Self.line(o)) }
    }

    static func line(_ o: DataOption) -> String {
        "    \(o.name)=\(o.defaultValue.isEmpty ? "\"\"" : o.defaultValue)".padding(toLength: 36, withPad: " ", startingAt: 0) + o.summary
    }
}
