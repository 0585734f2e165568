/// A user-supplied name that is not one of the valid choices (a model, activation, init, …).
public struct InvalidChoice: Error, CustomStringConvertible {
    /// The option or key the value was given for.
    public var option: String
    public var value: String
    public var choices: [String]

    public init(option: String, value: String, choices: [String]) {
        self.option = option
        self.value = value
        self.choices = choices
    }

    public var description: String {
        "invalid \(option) '\(value)'; valid choices: \(choices.joined(separator: ", "))"
    }
}
