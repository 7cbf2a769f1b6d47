"""Schedule: slot maths (slots.py, pure, at the ground: which slot is due, which were
missed) and the runner (runner.py, a driver) that makes an issue when its slot comes.
"""
