"""expectations"""
