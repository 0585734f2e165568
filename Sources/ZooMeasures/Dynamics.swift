/// (Being written.)
enum DynamicsMeasures {
    static let all: [any Measure] = []
}
