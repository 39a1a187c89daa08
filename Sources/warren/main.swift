import WarrenCLI
