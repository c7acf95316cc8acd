from cairn_core.client.cli import main

main(prog_name="cairn")
