"""`python -m simulator.imrest`: the same command as `blazecast simulator-imrest`."""

from simulator.imrest.cli import imrest_simulator_command

if __name__ == "__main__":
    imrest_simulator_command(prog_name="python -m simulator.imrest")
