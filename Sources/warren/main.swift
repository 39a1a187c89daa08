import WarrenCLI

await WarrenCLI.main()
