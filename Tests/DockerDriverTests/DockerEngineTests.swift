import DockerDriver
import Foundation
import LinuxSupport
import Logging
import Testing
import WarrenCore
import WarrenTestSupport

/// The Engine API client against the real dockerd.
@Suite("Docker Engine API client", .serialized)
struct DockerEngineTests {
    static func client() async throws -> DockerClient {
        _ = try await TestDocker.testImage()
        return try await DockerClient.connect(DockerEndpoint(), logger: Logger(label: "test"))
    }

    @Test("the API version is negotiated from /version; Docker's error messages come through")
    func versionAndErrors() async throws {
        let engine = try await Self.client()
        let server = try await TestDocker.docker(["version", "--format", "{{.Server.APIVersion}}"]).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(engine.apiVersion == (DockerAPIVersion.compare(server, DockerAPIVersion.maximum) < 0 ? server : DockerAPIVersion.maximum))
        #expect(try await engine.inspectContainer("warren-no-such-container") == nil)
        await #expect(throws: WarrenError.self) { try await engine.startContainer("warren-no-such-container") }
        do {
            try await engine.killContainer("warren-no-such-container", signal: 9)
            Issue.record("kill of a missing container succeeded")
        } catch let error as WarrenError {
            #expect(error.code == .notFound && error.message.contains("No such container"), "\(error)")
        }
        do {
            _ = try await engine.createContainer(name: nil, DockerContainerConfig(Image: "warren-test/no-such-image:1"))
            Issue.record("create from a missing image succeeded")
        } catch let error as WarrenError {
            #expect(error.code == .notFound && error.message.hasPrefix("docker: "), "\(error)")
        }
    }

    @Test("events: create, start, die and destroy of a labelled container, and its exec's output by stream")
    func eventsAndExec() async throws {
        let engine = try await Self.client()
        let label = "warren.test-run"
        let value = UUID().uuidString
        defer { TestDocker.removeLabelled("\(label)=\(value)") }
        let since = Date()
        var config = DockerContainerConfig(Image: try await TestDocker.testImage())
        config.Cmd = ["sleep", "100"]
        config.Labels = [label: value]
        let id = try await engine.createContainer(name: nil, config).Id
        try await engine.startContainer(id)
        let execID = try await engine.createExec(id, DockerExecConfig(Cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"], Tty: false))
        let stream = try await engine.startExec(execID, tty: false)
        try await stream.closeInput()
        let output = try await runBlocking { () -> [(LogStream, String)] in
            var demux = DockerStreamDemultiplexer()
            var frames: [(LogStream, String)] = []
            stream.readUntilEnd { bytes in frames += demux.feed(bytes).map { ($0.0, String(decoding: $0.1, as: UTF8.self)) } }
            return frames
        }
        #expect(output.filter { $0.0 == .stdout }.map(\.1).joined() == "out\n")
        #expect(output.filter { $0.0 == .stderr }.map(\.1).joined() == "err\n")
        await stream.close()
        var exit = try await engine.inspectExec(execID)
        for _ in 0..<50 where exit.Running { try await Task.sleep(for: .milliseconds(20)); exit = try await engine.inspectExec(execID) }
        #expect(exit.ExitCode == 3)

        try await engine.killContainer(id, signal: 9)
        #expect(try await engine.waitContainer(id).StatusCode == 137)
        #expect(try await engine.removeContainer(id))
        #expect(try await !engine.removeContainer(id), "a second removal finds nothing")

        let events = try await engine.events(labels: [label: value], since: since, until: Date().addingTimeInterval(1))
        var actions: [String] = []
        for try await event in events where event.Type == "container" {
            if let action = event.Action, !action.hasPrefix("exec_") { actions.append(action) }
        }
        #expect(actions.starts(with: ["create", "start"]) && actions.contains("die") && actions.last == "destroy", "\(actions)")
    }

    @Test("networks and images: create, inspect, list by label, remove")
    func networksAndImages() async throws {
        let engine = try await Self.client()
        let id = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let owner = "test-\(id.prefix(8))"
        _ = try await engine.createNetwork(DockerContainerPlan.networkConfig(id: id, owner: owner))
        let network = try #require(try await engine.inspectNetwork("warren-\(id)"))
        #expect(network.Internal == true && network.Labels?["warren.owner"] == owner)
        #expect(try await engine.listNetworks(labels: ["warren.owner": owner]).map(\.Name) == ["warren-\(id)"])
        #expect(try await engine.removeNetwork("warren-\(id)"))
        #expect(try await engine.inspectNetwork("warren-\(id)") == nil)

        let image = try await TestDocker.testImage()
        let known = try #require(try await engine.inspectImage(image))
        #expect(try await engine.listImages().contains { $0.Id == known.Id })
        let tag = "warren-test/retag:\(id.prefix(8))"
        try await TestDocker.docker(["tag", image, tag])
        try await engine.removeImage(tag)
        #expect(try await engine.inspectImage(tag) == nil)
        #expect(try await engine.inspectImage(image) != nil, "removing a tag keeps the image")
    }
}
